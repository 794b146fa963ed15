"""A 2D convolution whose kernel is a frozen base plus a gated task delta."""

import keras

from tfmtl.sharing.taps.gating import straight_through_gate


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSConv2D(keras.layers.Conv2D):
    """`Conv2D` with kernel `w0 + 1[s_t >= threshold] * delta_t` for task t.

    The base kernel `w0` (the usual `kernel` variable, so plain `Conv2D`
    weights load into it) is frozen unless `train_base` is set (joint TAPS).
    Every task `t` owns a delta `delta_t` (same shape as the kernel, zeros at
    start) and a scalar score `s_t` (`score_init` at start). The gate is a
    hard indicator whose gradient passes straight through to the score, so a
    layer that is off still receives a score gradient and may turn back on,
    while its delta receives none. The bias, when present, belongs to the
    base.

    The layer is called like `Conv2D` (`conv(x)`), so it fits the backbones'
    `conv=` slot; the task is the Python attribute `task_index`, which the
    `TAPS` sharing module sets before each pass of the backbone. `num_tasks`,
    `threshold`, `score_init` and `train_base` are also set by `TAPS` before
    the layer is built when the backbone is built with the defaults.

    Args:
        filters: int, output channels.
        kernel_size: int or pair, kernel size.
        num_tasks: int, number of tasks (one delta and score each).
        threshold: float, a task's delta is used where its score is at least
            this value.
        score_init: float, initial score of every task (above `threshold`,
            so every layer starts tuned).
        train_base: bool, whether the base kernel is trainable.
        **kwargs: `Conv2D` arguments (`strides`, `padding`, `use_bias`, ...).

    Call arguments:
        inputs: float tensor [B, H, W, C].

    Example:
    >>> conv = TAPSConv2D(4, 3, num_tasks=2, padding="same")
    >>> conv.task_index = 1
    >>> conv(keras.ops.ones((1, 8, 8, 3))).shape
    TensorShape([1, 8, 8, 4])

    Reference:
        Wallingford et al., "Task Adaptive Parameter Sharing for Multi-Task
        Learning", CVPR 2022, https://arxiv.org/abs/2203.16708.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        num_tasks=1,
        threshold=0.1,
        score_init=0.15,
        train_base=False,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, **kwargs)
        self.num_tasks = int(num_tasks)
        self.threshold = float(threshold)
        self.score_init = float(score_init)
        self.train_base = bool(train_base)
        self.task_index = 0

    def build(self, input_shape):
        super().build(input_shape)
        self._kernel.trainable = self.train_base
        if self.use_bias:
            self.bias.trainable = self.train_base
        self.deltas = [
            self.add_weight(
                name=f"delta_{t}", shape=self._kernel.shape, initializer="zeros"
            )
            for t in range(self.num_tasks)
        ]
        self.scores = [
            self.add_weight(
                name=f"score_{t}",
                shape=(),
                initializer=keras.initializers.Constant(self.score_init),
                autocast=False,
            )
            for t in range(self.num_tasks)
        ]

    @property
    def base_kernel(self):
        """The shared base kernel `w0` (a variable)."""
        return self._kernel

    def gate(self, task=None):
        """The 0/1 gate of `task` (default `task_index`), straight-through."""
        task = self.task_index if task is None else task
        return straight_through_gate(self.scores[task], self.threshold)

    def task_kernel(self, task=None):
        """The kernel `w0 + gate * delta` that `task` convolves with."""
        task = self.task_index if task is None else task
        kernel = keras.ops.convert_to_tensor(self._kernel)
        gate = keras.ops.cast(self.gate(task), kernel.dtype)
        return kernel + gate * keras.ops.cast(self.deltas[task], kernel.dtype)

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.task_kernel())
        if self.use_bias:
            outputs = outputs + keras.ops.reshape(
                self.bias, (1, 1, 1, self.filters)
            )
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    # `Conv2D` / `Dense` save only their kernel and bias; a TAPS layer saves
    # every variable (deltas and scores too), as a plain layer does.
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "threshold": self.threshold,
                "score_init": self.score_init,
                "train_base": self.train_base,
            }
        )
        return config
