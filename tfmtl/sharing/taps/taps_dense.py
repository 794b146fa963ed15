"""A dense layer whose kernel is a frozen base plus a gated task delta."""

import keras

from tfmtl.sharing.taps.gating import straight_through_gate


@keras.saving.register_keras_serializable(package="tfmtl")
class TAPSDense(keras.layers.Dense):
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
        """The kernel `w0 + gate * delta` that `task` multiplies with."""
        task = self.task_index if task is None else task
        kernel = keras.ops.convert_to_tensor(self._kernel)
        gate = keras.ops.cast(self.gate(task), kernel.dtype)
        return kernel + gate * keras.ops.cast(self.deltas[task], kernel.dtype)

    def call(self, inputs):
        outputs = keras.ops.matmul(inputs, self.task_kernel())
        if self.use_bias:
            outputs = outputs + self.bias
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
