"""Batch normalisation with one set of parameters and statistics per task."""

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class TaskBatchNormalization(keras.layers.Layer):
    """One `BatchNormalization` per task; task t uses its own affine
    parameters and moving statistics.

    The active task is the `task` call argument or, when that is None, the
    Python attribute `task_index` (0 unless a sharing module sets it before
    a pass: backbones call their norms as `norm(x)`, without a task).
    Subclasses may create the per-task norms in `build` rather than in
    `__init__` (`defer_norms`), so that `num_tasks` can still be set after
    construction, and name them differently (`norm_name`).

    Args:
        num_tasks: int, number of tasks.
        axis: int, the normalised axis.
        momentum: float, moving-average momentum.
        epsilon: float, variance epsilon.
        synchronized: bool, cross-replica batch statistics.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor [..., C].
        training: Python bool, use batch statistics and update the moving
            ones.
        task: Python int, the active task (None: `task_index`).

    Example:
    >>> bn = TaskBatchNormalization(2)
    >>> y = bn(keras.ops.ones((2, 3)), task=1, training=True)
    >>> len(bn.norms)
    2

    Reference:
        Rebuffi et al., "Learning multiple visual domains with residual
        adapters", NeurIPS 2017; Newell et al., arXiv:1908.04339.
    """

    # Create the norms in `build` (True) or in `__init__` (False).
    defer_norms = False

    def __init__(
        self,
        num_tasks=1,
        axis=-1,
        momentum=0.9,
        epsilon=1e-5,
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
        self.norms = [] if self.defer_norms else self._make_norms()

    def norm_name(self, task):
        """The name of task `task`'s `BatchNormalization`."""
        return f"task{task}"

    def _make_norms(self):
        return [
            keras.layers.BatchNormalization(
                axis=self.axis,
                momentum=self.momentum,
                epsilon=self.epsilon,
                synchronized=self.synchronized,
                dtype=self.dtype_policy,
                name=self.norm_name(t),
            )
            for t in range(self.num_tasks)
        ]

    def build(self, input_shape):
        if self.defer_norms:
            self.norms = self._make_norms()
        for norm in self.norms:
            norm.build(input_shape)
        self.built = True

    def call(self, inputs, training=None, task=None):
        task = self.task_index if task is None else task
        return self.norms[int(task)](inputs, training=training)

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
