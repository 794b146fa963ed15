"""A dense layer whose kernel is a frozen base plus a gated task delta."""

import keras

from tfmtl.methods.taps.gating import TaskGatedKernel


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSDense(TaskGatedKernel, keras.layers.Dense):
    """`Dense` with kernel `w0 + 1[s_t >= threshold] * delta_t` for task t.

    The dense counterpart of `TAPSConv2D` (the paper gates the linear layers
    of vision transformers this way): a frozen base kernel (the usual
    `kernel` variable, unless `train_base`), per-task zero-initialised
    deltas and scalar scores with a straight-through indicator gate. The
    task is the Python attribute `task_index`, set by the `TAPS` sharing
    module before each pass.

    Args:
        units: int, output features.
        num_tasks: int, number of tasks (one delta and score each).
        threshold: float, a task's delta is used where its score is at least
            this value.
        score_init: float, initial score of every task.
        train_base: bool, whether the base kernel is trainable.
        **kwargs: `Dense` arguments (`activation`, `use_bias`, ...).

    Call arguments:
        inputs: float tensor [..., C].

    Example:
    >>> dense = TAPSDense(3, num_tasks=2)
    >>> dense(keras.ops.ones((2, 5))).shape
    TensorShape([2, 3])

    Reference:
        Wallingford et al., "Task Adaptive Parameter Sharing for Multi-Task
        Learning", CVPR 2022, https://arxiv.org/abs/2203.16708.
    """

    def __init__(
        self,
        units,
        num_tasks=1,
        threshold=0.1,
        score_init=0.15,
        train_base=False,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self._init_gating(num_tasks, threshold, score_init, train_base)

    def call(self, inputs):
        outputs = keras.ops.matmul(inputs, self.task_kernel())
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
