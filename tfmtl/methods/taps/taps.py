"""TAPS: task-adaptive parameter sharing on a frozen (or jointly trained) base.

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (arXiv:2203.16708).
"""

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common.stateless_scope import in_stateless_scope

from tfmtl.methods.taps import base_loading
from tfmtl.methods.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.methods.taps.taps_conv2d import TAPSConv2D
from tfmtl.methods.taps.taps_dense import TAPSDense
from tfmtl.models.backbones import builders
from tfmtl.sharing.backbone_sharing import BackboneSharing

_GATED = (TAPSConv2D, TAPSDense)
_ROUTED = (TAPSConv2D, TAPSDense, TAPSBatchNormalization)


def _is_subclass(cls, parents):
    return isinstance(cls, type) and issubclass(cls, parents)


def taps_backbone(backbone, task_norm=True):
    """Returns `backbone` rebuilt with TAPS convolutions (and norms).

    A backbone whose `conv` is already a TAPS class is returned unchanged;
    otherwise a new one is made from its config with `conv` set to
    `TAPSConv2D`, `dense` (when the backbone has that slot) to `TAPSDense`
    and, with `task_norm`, `norm` to `TAPSBatchNormalization`.
    """
    if _is_subclass(getattr(backbone, "conv", None), _GATED):
        return backbone
    config = backbone.get_config()
    if "conv" not in config:
        raise ValueError(
            f"{type(backbone).__name__} has no `conv` argument; TAPS needs a "
            "backbone whose convolution class can be swapped."
        )
    config["conv"] = builders.layer_class_name(TAPSConv2D)
    if "dense" in config:
        # Backbones with a dense slot (transformer-style) gate it too.
        config["dense"] = builders.layer_class_name(TAPSDense)
    norm = config.get("norm")
    norm = norm and builders.resolve_layer_class(norm)
    if task_norm and _is_subclass(norm, keras.layers.BatchNormalization):
        config["norm"] = builders.layer_class_name(TAPSBatchNormalization)
    return type(backbone).from_config(config)


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPS(BackboneSharing):
    """Task-adaptive parameter sharing: each task tunes a few base layers.

    Every convolution of the backbone becomes a `TAPSConv2D`: kernel
    `w0 + 1[s_t >= threshold] * delta_t` for task t, with a shared base `w0`
    and per-task deltas and scores (the gate's gradient passes straight
    through to the score). Normalisation is per task
    (`TAPSBatchNormalization`) and every task has its own head. A sparsity
    penalty on the scores switches layers off, so each task ends up tuning a
    small subset of layers:

        penalty = lam * scale * sum_t sum_i |s_{t,i}| / penalty_normalizer

    where `scale` is 0 for the first `warmup_steps` steps and then ramps
    linearly to 1 over `ramp_steps` (set each step by the `TAPSWarmup`
    action), and `penalty_normalizer` is 52 as in the reference
    (`train_sequential.py`, `lam * sum(|indicators|) / 52` for every
    network), so the paper's λ values mean what they say.

    Routing the task: the backbone calls its layers as `conv(x)`, without a
    task. `call` therefore runs the backbone once per requested task and,
    before each pass, sets the Python attribute `task_index` of every TAPS
    layer; the index is fixed while the step is traced, so each task's pass
    is an ordinary static graph.

    * Sequential TAPS (one new task on a pretrained base): one task,
      `train_base=False`, `base=` the pretrained backbone.
    * Joint TAPS: several tasks, `train_base=True` (the base is trained by
      all tasks, each with its own deltas). With one data set labelling
      every task, every step runs all tasks; with one data set per task
      (DomainNet domains) see `tfmtl.methods.taps.joint` (round robin over
      the tasks' streams with gradient accumulation, per-task evaluation).

    Args:
        backbone: a backbone (`tfmtl.models.backbones`) with a `conv` slot.
            Plain backbones are rebuilt with TAPS layers (see
            `taps_backbone`); an unbuilt TAPS backbone is used as is.
        tasks: names of the tasks, in order (task t uses deltas t).
        lam: float, sparsity weight λ.
        threshold: float, score threshold τ of the gate.
        score_init: float, initial score (above `threshold`).
        penalty_normalizer: divisor of the summed absolute scores: a number
            (default 52, the reference's for every network) or
            `"gated_layers"` (the number of gated layers, i.e. λ times the
            mean absolute score; 36 for ResNet-34, so λ is 1.44x stronger
            than the reference's).
        warmup_steps: steps without penalty at the start (training steps,
            i.e. micro-steps when the trainer accumulates gradients).
        ramp_steps: steps over which the penalty then ramps up to λ.
        train_base: bool, train the shared base (joint TAPS).
        task_norm: bool, per-task batch normalisation.
        base: path of a pretrained base (`.keras` file of a tfmtl model or
            of a Keras-applications ResNet-50, its `.h5` weights, a
            `tfmtl.train` checkpoint prefix or model directory), loaded when
            the layer is built (see `base_loading`); None keeps the
            random initialisation. Not part of the config: a saved TAPS
            model holds its weights.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names (default: all).
        training: Python bool.

    Example:
    >>> from tfmtl.models.backbones import ResNet
    >>> taps = TAPS(ResNet(18, stem="small", widths=(4, 4, 8, 8)), ("a",))
    >>> sorted(taps(keras.ops.zeros((1, 16, 16, 3))))
    ['a']
    >>> taps.layers_tuned()
    {'a': 1.0}

    Reference:
        Wallingford et al., "Task Adaptive Parameter Sharing for Multi-Task
        Learning", CVPR 2022, https://arxiv.org/abs/2203.16708.
    """

    def __init__(
        self,
        backbone,
        tasks=(),
        lam=1.0,
        threshold=0.1,
        score_init=0.15,
        # compat: the reference divides by a hard-coded 52 for any network.
        penalty_normalizer=52.0,
        warmup_steps=0,
        ramp_steps=0,
        train_base=False,
        task_norm=True,
        base=None,
        **kwargs,
    ):
        super().__init__(tasks=tasks, **kwargs)
        if not self.tasks:
            raise ValueError("TAPS needs at least one task name.")
        self.lam = float(lam)
        self.threshold = float(threshold)
        self.score_init = float(score_init)
        if penalty_normalizer != "gated_layers" and not (
            isinstance(penalty_normalizer, (int, float))
            and penalty_normalizer > 0
        ):
            raise ValueError(
                "penalty_normalizer must be a positive number or "
                f"'gated_layers', got {penalty_normalizer!r}."
            )
        self.penalty_normalizer = penalty_normalizer
        self.warmup_steps = int(warmup_steps)
        self.ramp_steps = int(ramp_steps)
        self.train_base = bool(train_base)
        self.task_norm = bool(task_norm)
        self.base = base
        self.backbone = taps_backbone(backbone, task_norm)
        if self.backbone.built:
            # A deserialised TAPS backbone comes built, its layers set.
            if any(
                x.num_tasks != len(self.tasks) for x in self._routed_layers()
            ):
                raise ValueError(
                    "A built TAPS backbone must have one delta per task."
                )
            return
        for layer in self._routed_layers():
            layer.num_tasks = len(self.tasks)
            if isinstance(layer, _GATED):
                layer.threshold = self.threshold
                layer.score_init = self.score_init
                layer.train_base = self.train_base

    # ---------------------------------------------------------------- layers
    def _routed_layers(self):
        # Not stored as an attribute: Keras would track the layers twice.
        return [
            x
            for x in self.backbone._flatten_layers(
                include_self=False, recursive=True
            )
            if isinstance(x, _ROUTED)
        ]

    def gated_layers(self):
        """The gated (TAPS) layers of the backbone, in order."""
        return [x for x in self._routed_layers() if isinstance(x, _GATED)]

    def set_task(self, task):
        """Routes every TAPS layer to `task` (a name or an index)."""
        index = self.tasks.index(task) if isinstance(task, str) else task
        for layer in self._routed_layers():
            layer.task_index = int(index)

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        self.backbone.build(input_shape)
        self.penalty_scale = self.add_weight(
            name="penalty_scale",
            shape=(),
            initializer=keras.initializers.Constant(self.scale_at(0)),
            trainable=False,
            autocast=False,
        )
        self._base_shape = input_shape if self.base else None
        if self.base and not in_stateless_scope():
            self._load_base()

    def _load_base(self):
        # A model's first call builds its layers symbolically in a stateless
        # scope, which discards assignments: the base then loads on the
        # first real call instead (lifted out of any tf.function).
        with tf.init_scope():
            base_loading.load_base(self.backbone, self.base, self._base_shape)
        self._base_shape = None

    def scale_at(self, step):
        """Penalty scale (0..1) of the step with 0-based index `step`."""
        if step < self.warmup_steps:
            return 0.0
        if self.ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - self.warmup_steps + 1) / self.ramp_steps)

    # ------------------------------------------------------------------ call
    def call(self, images, tasks=None, training=None):
        if getattr(self, "_base_shape", None) and not in_stateless_scope():
            self._load_base()
        tasks = tuple(tasks or self.tasks)
        features = {}
        for task in tasks:
            self.set_task(task)
            features[task] = self.backbone(images, training=training)
        self.set_task(0)
        self.add_loss(self.penalty(tasks))
        return features

    def penalty(self, tasks=None):
        """The scaled sparsity penalty of `tasks` (default: all), a scalar."""
        layers = self.gated_layers()
        normalizer = self.penalty_normalizer
        if normalizer == "gated_layers":
            # compat: tfmtl's earlier default (λ times the mean |score|).
            normalizer = len(layers)
        total = 0.0
        for task in tuple(tasks or self.tasks):
            t = self.tasks.index(task)
            total += keras.ops.sum(
                keras.ops.stack([keras.ops.abs(x.scores[t]) for x in layers])
            )
        return self.lam * self.penalty_scale * total / float(normalizer)

    # ---------------------------------------------------------- inspection
    def scores(self):
        """Float array [tasks, gated layers] of the current scores."""
        return np.array(
            [
                [float(np.asarray(x.scores[t])) for x in self.gated_layers()]
                for t in range(len(self.tasks))
            ],
            dtype=np.float32,
        )

    def active_layers(self):
        """Bool array [tasks, gated layers]: which layers each task tunes."""
        return self.scores() >= self.threshold

    def layers_tuned(self):
        """Fraction of gated layers each task tunes (`{task: float}`)."""
        active = self.active_layers()
        return {t: float(active[i].mean()) for i, t in enumerate(self.tasks)}

    def parameters_changed(self):
        """Fraction of gated base parameters each task changes.

        Counts kernel elements of tuned layers over all gated kernel
        elements (per-task normalisation and heads are not counted).
        """
        # compat: the reference notebook also counts BN weights whose name
        # contains "bn" and divides by all parameters of a fresh model.
        sizes = np.array(
            [np.prod(x.base_kernel.shape) for x in self.gated_layers()],
            dtype=np.float64,
        )
        active = self.active_layers()
        return {
            t: float((active[i] * sizes).sum() / sizes.sum())
            for i, t in enumerate(self.tasks)
        }

    # -------------------------------------------------------------- groups
    def shared_variables(self):
        """The base kernels when they are trained (joint TAPS)."""
        return [x.base_kernel for x in self.gated_layers() if x.train_base]

    # -------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lam": self.lam,
                "threshold": self.threshold,
                "score_init": self.score_init,
                "penalty_normalizer": self.penalty_normalizer,
                "warmup_steps": self.warmup_steps,
                "ramp_steps": self.ramp_steps,
                "train_base": self.train_base,
                "task_norm": self.task_norm,
            }
        )
        return config

    @classmethod
    def backbone_from_config(cls, config):
        # The backbone's layers get their task count from TAPS, so it is
        # built by `TAPS.build`, not while being deserialised.
        config = dict(config)
        config.pop("build_config", None)
        return super().backbone_from_config(config)
