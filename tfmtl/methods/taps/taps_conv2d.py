"""A 2D convolution whose kernel is a frozen base plus a gated task delta."""

import keras

from tfmtl.methods.taps.gating import TaskGatedKernel


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSConv2D(TaskGatedKernel, keras.layers.Conv2D):
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
        self._init_gating(num_tasks, threshold, score_init, train_base)

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.task_kernel())
        if self.use_bias:
            outputs = outputs + keras.ops.reshape(
                self.bias, (1, 1, 1, self.filters)
            )
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
