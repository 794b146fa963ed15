"""Tasks: what a model predicts, how it is scored and how it is trained.

A `Task` is a frozen record (no subclassing): a name, a kind from the label
layouts of `docs/design.md`, a head factory, a per-example loss and metrics.
`build_tasks` makes the standard tasks from names so configurations stay
short.
"""

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfmtl import losses
from tfmtl.metrics import (
    ClassificationMetrics,
    DepthMetrics,
    NormalsMetrics,
    RegressionMetrics,
    SegmentationMetrics,
)
from tfmtl.models.heads import ClassifierHead, DenseHead

KINDS = (
    "binary",
    "classification",
    "segmentation",
    "depth",
    "normals",
    "regression",
)
DENSE_KINDS = ("segmentation", "depth", "normals", "regression")

# Kinds guessed from a task's name when `build_tasks` is not told; every
# other name is an image-level binary attribute.
_KIND_BY_NAME = {
    "segmentation": "segmentation",
    "semantic": "segmentation",
    "depth": "depth",
    "depth_zbuffer": "depth",
    "normals": "normals",
    "normal": "normals",
    "edges": "regression",
    "edge_texture": "regression",
    "keypoints": "regression",
    "keypoints2d": "regression",
}


@dataclasses.dataclass(frozen=True)
class Task:
    """One prediction problem of a multi-task model.

    Attributes:
        name: Key of the task in batches, outputs and logs.
        kind: One of `KINDS`; fixes the label layout (`docs/design.md`).
        num_outputs: Channels of the prediction (classes for classifiers).
        head: Zero-argument factory returning a fresh Keras head layer.
        loss: `loss(labels, predictions) -> [B]` per-example loss.
        metrics: Metric objects with `statistics` / `result`.
    """

    name: str
    kind: str
    num_outputs: int
    head: Callable[[], Any]
    loss: Callable[[Any, Any], Any]
    metrics: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"Task {self.name!r}: unknown kind {self.kind!r}; "
                f"expected one of {KINDS}."
            )

    @property
    def dense(self) -> bool:
        """Whether the task predicts a map at the input resolution."""
        return self.kind in DENSE_KINDS


def _head_factory(kind, num_outputs, head=None):
    """Zero-argument factory from a `head(num_outputs=...)` class/callable."""
    if head is None:
        head = DenseHead if kind in DENSE_KINDS else ClassifierHead
    return functools.partial(head, num_outputs=num_outputs)


def make_task(
    name: str,
    kind: str,
    *,
    num_classes: int | None = None,
    channels: int = 1,
    ignore_label: int = 255,
    head: Callable[[], Any] | None = None,
    compat_metrics: bool = False,
) -> Task:
    """Builds a standard task of the given kind.

    Args:
        name: Task name.
        kind: One of `KINDS`.
        num_classes: Classes for `classification` and `segmentation`.
        channels: Output channels of a `regression` task.
        ignore_label: Unlabelled value of segmentation maps.
        head: Optional head class (or callable taking `num_outputs=`)
            replacing the default `DenseHead` / `ClassifierHead`.
        compat_metrics: Score `segmentation` and `depth` tasks as AdaShare's
            reference evaluation does (`compat=True` of
            `SegmentationMetrics` / `DepthMetrics`), for comparison with
            its published tables; other kinds are unaffected.

    Returns:
        The `Task`.
    """
    if kind in ("classification", "segmentation") and not num_classes:
        raise ValueError(f"Task {name!r} of kind {kind!r} needs num_classes.")
    if kind == "binary":
        num_outputs, loss = 2, losses.softmax_cross_entropy
        metrics = (ClassificationMetrics(num_classes=2),)
    elif kind == "classification":
        num_outputs, loss = num_classes, losses.softmax_cross_entropy
        metrics = (ClassificationMetrics(num_classes=num_classes),)
    elif kind == "segmentation":
        num_outputs = num_classes

        def loss(labels, logits):
            return losses.segmentation_cross_entropy(
                labels, logits, ignore_label=ignore_label
            )

        metrics = (
            SegmentationMetrics(
                num_classes, ignore_label=ignore_label, compat=compat_metrics
            ),
        )
    elif kind == "depth":
        num_outputs, loss = 1, losses.depth_l1
        metrics = (DepthMetrics(compat=compat_metrics),)
    elif kind == "normals":
        num_outputs, loss = 3, losses.normals_cosine
        metrics = (NormalsMetrics(),)
    elif kind == "regression":
        num_outputs, loss = channels, losses.regression_l1
        metrics = (RegressionMetrics(),)
    else:
        raise ValueError(f"Task {name!r}: unknown kind {kind!r}.")
    return Task(
        name=name,
        kind=kind,
        num_outputs=num_outputs,
        head=_head_factory(kind, num_outputs, head),
        loss=loss,
        metrics=metrics,
    )


def build_tasks(
    names: Sequence[str],
    *,
    kinds: Mapping[str, str] | None = None,
    num_classes: Mapping[str, int] | None = None,
    heads: Mapping[str, Callable[[], Any]] | None = None,
    ignore_label: int = 255,
    compat_metrics: bool = False,
) -> list[Task]:
    """Builds standard tasks from their names.

    Args:
        names: Task names, in order.
        kinds: Kind per task; missing ones are guessed from the name
            (`segmentation`, `depth`, `normals`, `edges`, ...), and any other
            name is a binary attribute.
        num_classes: Classes per classification / segmentation task.
        heads: Head class (called with `num_outputs=`) per task, replacing
            the default heads.
        ignore_label: Unlabelled value of segmentation maps.
        compat_metrics: Score segmentation and depth as AdaShare's reference
            evaluation does (see `make_task`).

    Returns:
        A list of `Task`, one per name.
    """
    if not names:
        raise ValueError("build_tasks needs at least one task name.")
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate task names in {list(names)}.")
    kinds, num_classes, heads = kinds or {}, num_classes or {}, heads or {}
    for mapping in (kinds, num_classes, heads):
        unknown = set(mapping) - set(names)
        if unknown:
            raise ValueError(
                f"Settings given for unknown tasks {sorted(unknown)}; "
                f"tasks are {list(names)}."
            )
    return [
        make_task(
            name,
            kinds.get(name, _KIND_BY_NAME.get(name, "binary")),
            num_classes=num_classes.get(name),
            ignore_label=ignore_label,
            head=heads.get(name),
            compat_metrics=compat_metrics,
        )
        for name in names
    ]


def tasks_for(
    source,
    names: Sequence[str] | None = None,
    *,
    heads: Mapping[str, Callable[..., Any]] | None = None,
    dense_head: Callable[..., Any] | None = None,
    classifier_head: Callable[..., Any] | None = None,
    ignore_label: int = 255,
    compat_metrics: bool = False,
) -> list[Task]:
    """Builds standard tasks for a data source from its `task_kinds`.

    Args:
        source: A `DataSource` with `task_kinds` (and `num_classes` for its
            segmentation / classification tasks, an int or a per-task dict).
        names: Task names (default: every task of the source).
        heads: Head class (called with `num_outputs=`) per task.
        dense_head: Head class for every dense task without an entry in
            `heads` (e.g. `ASPPHead`).
        classifier_head: Head class for every image-level task without an
            entry in `heads`.
        ignore_label: Unlabelled value of segmentation maps.
        compat_metrics: Score segmentation and depth as AdaShare's reference
            evaluation does (see `make_task`).

    Returns:
        A list of `Task`.
    """
    kinds = dict(getattr(source, "task_kinds", {}))
    names = list(names or kinds)
    unknown = [n for n in names if kinds and n not in kinds]
    if unknown:
        raise ValueError(
            f"Unknown tasks {unknown} for {type(source).__name__}; "
            f"available: {sorted(kinds)}."
        )
    classes = getattr(source, "num_classes", None)
    num_classes = {}
    for name in names:
        if kinds.get(name) in ("segmentation", "classification"):
            num_classes[name] = (
                classes[name] if isinstance(classes, Mapping) else classes
            )
    chosen = {}
    for name in names:
        kind = kinds.get(name, _KIND_BY_NAME.get(name, "binary"))
        default = dense_head if kind in DENSE_KINDS else classifier_head
        head = (heads or {}).get(name, default)
        if head is not None:
            chosen[name] = head
    return build_tasks(
        names,
        kinds={n: kinds[n] for n in names if n in kinds},
        num_classes=num_classes,
        heads=chosen,
        ignore_label=ignore_label,
        compat_metrics=compat_metrics,
    )


def override_tasks(
    tasks: Sequence[Task],
    *,
    losses: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    extra_metrics: Mapping[str, Sequence[Any]] | None = None,
) -> list[Task]:
    """Replaces some tasks' losses and appends metrics, by task name.

    For benchmarks whose tasks differ from the standard ones, e.g. AdaShare's
    Taskonomy: a prior-weighted segmentation loss, and the cross-entropy and
    cosine-similarity scores next to the standard metrics. Entries for tasks
    that are not in `tasks` are ignored, so one configuration serves runs on
    a subset of the tasks.

    Args:
        tasks: the tasks (e.g. from `tasks_for`).
        losses: `{task: loss(labels, predictions) -> [B]}` replacing a loss.
        extra_metrics: `{task: [metric, ...]}` appended to a task's metrics.

    Returns:
        A list of `Task` in the same order.
    """
    losses, extra_metrics = dict(losses or {}), dict(extra_metrics or {})
    result = []
    for task in tasks:
        changes = {}
        if task.name in losses:
            changes["loss"] = losses[task.name]
        if task.name in extra_metrics:
            changes["metrics"] = tuple(task.metrics) + tuple(
                extra_metrics[task.name]
            )
        result.append(dataclasses.replace(task, **changes))
    return result
