"""TAPS's per-task batch normalisation: `TaskBatchNormalization` routed by
`task_index`."""

import keras

from tfmtl.models.layers import TaskBatchNormalization


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSBatchNormalization(TaskBatchNormalization):
    """Per-task `BatchNormalization`: task t uses its own affine parameters
    and moving statistics.

    TAPS keeps normalisation task-specific (the paper reports it matters).
    The layer holds `num_tasks` `BatchNormalization` sublayers, made in
    `build` (so `TAPS` can set `num_tasks` after construction) and named
    `{name}_task{t}`, and applies the one of `task_index`, a Python
    attribute the `TAPS` sharing module sets before each pass; it fits the
    backbones' `norm=` slot. Keras's `BatchNormalization` defaults
    (momentum 0.99, epsilon 1e-3).

    Args:
        num_tasks: int, number of tasks (set by `TAPS` before building).
        axis: int, the normalised axis.
        momentum: float, moving-average momentum.
        epsilon: float, variance epsilon.
        synchronized: bool, cross-replica batch statistics.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor [..., C].
        training: bool, use batch statistics and update the moving ones.
        task: Python int, overrides `task_index` (default None).

    Example:
    >>> norm = TAPSBatchNormalization(num_tasks=2)
    >>> norm.task_index = 1
    >>> norm(keras.ops.ones((2, 4, 4, 3))).shape
    TensorShape([2, 4, 4, 3])

    Reference:
        Wallingford et al., "Task Adaptive Parameter Sharing for Multi-Task
        Learning", CVPR 2022, https://arxiv.org/abs/2203.16708.
    """

    defer_norms = True

    def __init__(
        self,
        num_tasks=1,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(
            num_tasks,
            axis=axis,
            momentum=momentum,
            epsilon=epsilon,
            synchronized=synchronized,
            **kwargs,
        )

    def norm_name(self, task):
        return f"{self.name}_task{task}"
