"""The score gate of TAPS: a hard indicator with a straight-through gradient.

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (arXiv:2203.16708), Section 3.
"""

import keras


def straight_through_gate(score, threshold):
    """Returns `1[score >= threshold]` whose gradient w.r.t. `score` is 1.

    The forward value is the hard indicator; the backward pass treats the
    gate as the identity of `score`, so `dL/dscore = dL/dgate`, which for a
    gated kernel `w0 + gate * delta` is the inner product of the kernel
    gradient with `delta`.

    Args:
        score: float tensor (any shape).
        threshold: float, the gate is on where `score >= threshold`.

    Returns:
        A tensor like `score` holding 0.0 and 1.0.
    """
    hard = keras.ops.cast(
        keras.ops.greater_equal(score, threshold), score.dtype
    )
    return score + keras.ops.stop_gradient(hard - score)


class TaskGatedKernel:
    """Mixin turning a Keras layer's `kernel` into `w0 + gate_t * delta_t`.

    Shared by `TAPSConv2D` and `TAPSDense` (listed first among the bases so
    its `build` and `get_config` wrap the Keras layer's): creates one delta
    (zeros) and one score (`score_init`) per task after the layer's own
    weights, freezes the base kernel and bias unless `train_base`, and saves
    every variable. The host layer's `__init__` calls `_init_gating` and its
    `call` uses `task_kernel()`.
    """

    def _init_gating(self, num_tasks, threshold, score_init, train_base):
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
        """The kernel `w0 + gate * delta` that `task` computes with."""
        task = self.task_index if task is None else task
        kernel = keras.ops.convert_to_tensor(self._kernel)
        gate = keras.ops.cast(self.gate(task), kernel.dtype)
        return kernel + gate * keras.ops.cast(self.deltas[task], kernel.dtype)

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
