"""Batch normalisation with one set of parameters and statistics per task."""

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class TaskBatchNormalization(keras.layers.Layer):
    """One `BatchNormalization` per task, chosen by a call argument.

    Feature partitioning keeps a separate normalisation (scale, offset and
    moving statistics) per task for every convolution of the network
    (`separate_bn`), including the frozen ones.

    Args:
        num_tasks: int, number of tasks.
        momentum: float, moving-average momentum.
        epsilon: float.
        synchronized: bool, cross-replica batch statistics.
        **kwargs: Forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor [..., C].
        task: Python int, the active task.
        training: Python bool.

    Example:
    >>> bn = TaskBatchNormalization(2)
    >>> y = bn(keras.ops.ones((2, 3)), task=1, training=True)
    >>> len(bn.norms)
    2

    Reference:
        Rebuffi et al., "Learning multiple visual domains with residual
        adapters", NeurIPS 2017; Newell et al., arXiv:1908.04339.
    """

    def __init__(
        self,
        num_tasks=1,
        momentum=0.9,
        epsilon=1e-5,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.momentum = momentum
        self.epsilon = epsilon
        self.synchronized = synchronized
        self.norms = [
            keras.layers.BatchNormalization(
                momentum=momentum,
                epsilon=epsilon,
                synchronized=synchronized,
                dtype=self.dtype_policy,
                name=f"task{t}",
            )
            for t in range(self.num_tasks)
        ]

    def build(self, input_shape):
        for norm in self.norms:
            norm.build(input_shape)
        self.built = True

    def call(self, inputs, task=0, training=None):
        return self.norms[int(task)](inputs, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "synchronized": self.synchronized,
            }
        )
        return config
