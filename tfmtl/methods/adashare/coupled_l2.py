"""Coupled L2 weight decay for Keras optimizers (PyTorch's `weight_decay`)."""

import keras


class CoupledL2:
    """Mixin: adds `l2 * w` to each gradient before the optimizer's update.

    Put it before a Keras optimizer class in the bases. PyTorch's optimizers
    decay this way (`weight_decay=l2`); Keras' own `weight_decay` is
    decoupled (AdamW style) and gives different updates.

    Args:
        l2: float, the coupled decay coefficient.
        **kwargs: forwarded to the optimizer.
    """

    def __init__(self, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = gradient + self.l2 * keras.ops.cast(
                variable, gradient.dtype
            )
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}
