"""Base class of the cross-task fusion ops (NDDR, cross-stitch)."""

import keras


class Fusion(keras.layers.Layer):
    """Fuses a task's own features with `k` incoming tensors of one shape.

    Holds what every fusion op shares: the number of fused tensors, the
    `(w_self, w_other)` initial weights (own tensor, all incoming ones
    together), the check of the input count, the output shape (the own
    tensor's) and their config. Subclasses create their weights in `build`
    and call `self._check_inputs(inputs)` first in `call`.

    Args:
        num_inputs: int, number of fused tensors (own + incoming, >= 1).
        init_weights: `(w_self, w_other)`, or None for the subclass's
            default initialisation.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list of `num_inputs` float tensors of one shape; the first
            is the task's own features.
        training: Python bool.
    """

    def __init__(self, num_inputs, init_weights=(0.9, 0.1), **kwargs):
        super().__init__(**kwargs)
        if num_inputs < 1:
            raise ValueError(f"num_inputs must be >= 1, not {num_inputs}.")
        self.num_inputs = int(num_inputs)
        self.init_weights = (
            None if init_weights is None else tuple(map(float, init_weights))
        )

    def _check_inputs(self, inputs):
        if len(inputs) != self.num_inputs:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_inputs} inputs, "
                f"got {len(inputs)}."
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        init = None if self.init_weights is None else list(self.init_weights)
        config.update({"num_inputs": self.num_inputs, "init_weights": init})
        return config
