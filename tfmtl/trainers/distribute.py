"""Distribution strategy and cluster role from the environment.

`make_strategy("auto")` picks `MultiWorkerMirroredStrategy` when `TF_CONFIG`
(or Vertex AI's `CLUSTER_SPEC`) describes several workers,
`MirroredStrategy` when several GPUs are visible, and the default strategy
otherwise (`strategy_kind` says which without building it). `ClusterInfo`
says whether this process is the chief, the one that writes summaries and
exports. Inside a Vertex AI job `CLUSTER_SPEC` is translated to `TF_CONFIG`
(`tf_config`) when `TF_CONFIG` is not set.
"""

import dataclasses
import json
import os

import tensorflow as tf

_TASK_TYPES = ("chief", "worker", "master")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """Role of this process in a (possibly single-process) cluster.

    Attributes:
        task_type: "chief", "worker", ... or None when not in a cluster.
        task_id: Index within the task type.
        num_workers: Number of chief + worker processes.
        has_chief: Whether the cluster names a separate chief task.
    """

    task_type: str | None = None
    task_id: int = 0
    num_workers: int = 1
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """True for the process that writes summaries, exports and logs."""
        if self.task_type in (None, "chief", "master"):
            return True
        return (
            self.task_type == "worker"
            and self.task_id == 0
            and not self.has_chief
        )

    @classmethod
    def from_environment(cls, environ=None) -> "ClusterInfo":
        """Reads `TF_CONFIG`, falling back to Vertex AI's `CLUSTER_SPEC`."""
        environ = os.environ if environ is None else environ
        config = tf_config(environ)
        if not config:
            return cls()
        cluster = config.get("cluster", {})
        task = config.get("task", {})
        num_workers = sum(len(cluster.get(t, [])) for t in _TASK_TYPES)
        return cls(
            task_type=task.get("type"),
            task_id=int(task.get("index", 0)),
            num_workers=max(num_workers, 1),
            has_chief=bool(cluster.get("chief") or cluster.get("master")),
        )


def tf_config(environ=None) -> dict | None:
    """The cluster as `TF_CONFIG` describes it, or None outside a cluster.

    `TF_CONFIG` is used when set; otherwise Vertex AI's `CLUSTER_SPEC` is
    translated: pool `workerpool0` is the chief and `workerpool1` the
    workers (parameter-server and evaluator pools are left out).

    Args:
        environ: Environment to read (default `os.environ`).

    Raises:
        ValueError: when the variable is not valid JSON.
    """
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG"):
        return _json(environ, "TF_CONFIG")
    if not environ.get("CLUSTER_SPEC"):
        return None
    spec = _json(environ, "CLUSTER_SPEC")
    names = {"workerpool0": "chief", "workerpool1": "worker"}
    cluster = {
        names[k]: list(v)
        for k, v in spec.get("cluster", {}).items()
        if k in names and v
    }
    task = spec.get("task", {})
    return {
        "cluster": cluster,
        "task": {
            "type": names.get(task.get("type"), task.get("type")),
            "index": int(task.get("index", 0)),
        },
    }


def _json(environ, name):
    try:
        return json.loads(environ[name])
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not valid JSON: {error}") from None


def strategy_kind(kind: str = "auto", environ=None, num_gpus=None) -> str:
    """Resolves "auto" to the strategy `make_strategy` builds.

    Args:
        kind: "auto", "default", "mirrored" or "multi_worker".
        environ: Environment to read (default `os.environ`).
        num_gpus: Number of visible GPUs (default: asks TensorFlow).

    Returns:
        "multi_worker" when the cluster has several chief/worker tasks,
        "mirrored" when several GPUs are visible, else "default"; `kind`
        itself when it is not "auto".

    Raises:
        ValueError: for an unknown kind.
    """
    if kind not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {kind!r}; expected one of {STRATEGIES}."
        )
    if kind != "auto":
        return kind
    if ClusterInfo.from_environment(environ).num_workers > 1:
        return "multi_worker"
    if num_gpus is None:
        num_gpus = len(tf.config.list_logical_devices("GPU"))
    return "mirrored" if num_gpus > 1 else "default"


def make_strategy(kind: str = "auto", devices=None) -> tf.distribute.Strategy:
    """Builds a distribution strategy.

    Must run before TensorFlow executes any op when the strategy is
    "multi_worker" (a collective runtime is set up). Inside a Vertex AI job
    that only sets `CLUSTER_SPEC`, `TF_CONFIG` is derived from it first.

    Args:
        kind: "auto", "default", "mirrored" or "multi_worker".
        devices: Devices for "mirrored" (default: all GPUs, else the CPU).

    Returns:
        The strategy.
    """
    kind = strategy_kind(kind)
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if not os.environ.get("TF_CONFIG") and os.environ.get("CLUSTER_SPEC"):
        os.environ["TF_CONFIG"] = json.dumps(tf_config())
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options
    )
