"""Batch normalisation with one set of parameters and statistics per task."""

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSBatchNormalization(keras.layers.Layer):
    """Per-task `BatchNormalization`: task t uses its own affine parameters
    and moving statistics.

    TAPS keeps normalisation task-specific (the paper reports it matters).
    The layer holds `num_tasks` `BatchNormalization` sublayers and applies
    the one of `task_index`, a Python attribute the `TAPS` sharing module
    sets before each pass; it fits the backbones' `norm=` slot.

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

    Example:
    >>> norm = TAPSBatchNormalization(num_tasks=2)
    >>> norm.task_index = 1
    >>> norm(keras.ops.ones((2, 4, 4, 3))).shape
    TensorShape([2, 4, 4, 3])

    Reference:
        Wallingford et al., "Task Adaptive Parameter Sharing for Multi-Task
        Learning", CVPR 2022, https://arxiv.org/abs/2203.16708.
    """

    def __init__(
        self,
        num_tasks=1,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.synchronized = synchronized
        self.task_index = 0

    def build(self, input_shape):
        self.norms = []
        for t in range(self.num_tasks):
            norm = keras.layers.BatchNormalization(
                axis=self.axis,
                momentum=self.momentum,
                epsilon=self.epsilon,
                synchronized=self.synchronized,
                dtype=self.dtype_policy,
                name=f"{self.name}_task{t}",
            )
            norm.build(input_shape)
            self.norms.append(norm)

    def call(self, inputs, training=None):
        return self.norms[self.task_index](inputs, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "synchronized": self.synchronized,
            }
        )
        return config
