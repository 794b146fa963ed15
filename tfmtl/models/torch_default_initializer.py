"""PyTorch's default initialisation of convolution and linear layers."""

import math
import random

import keras


@keras.saving.register_keras_serializable(package="tfmtl")
class TorchDefault(keras.initializers.Initializer):
    """Uniform U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch's default.

    `torch.nn.Conv2d` and `torch.nn.Linear` initialise their weight with
    `kaiming_uniform_(a=sqrt(5))`, whose bound is
    `sqrt(6 / ((1 + 5) * fan_in)) = 1 / sqrt(fan_in)`, and their bias with
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) where `fan_in` is that of the weight.
    For a kernel (rank >= 2, channels last) `fan_in` is the product of all
    but the last dimension; a bias (rank 1) has no fan-in of its own, so
    pass it as `fan_in` (see `with_fan_in`).

    Unlike Keras's random initializers, an unseeded `TorchDefault` draws new
    values at every call (with a fresh seed from Python's `random`), so one
    instance shared by several layers gives each its own weights; with an
    integer `seed` every call of the same shape returns the same values.

    Args:
        fan_in: int or None, the fan-in; None takes it from the shape.
        seed: int or None, the seed of the draws.

    Example:

    >>> init = TorchDefault()
    >>> kernel = init((3, 3, 16, 8))  # |w| <= 1 / sqrt(3 * 3 * 16)
    >>> bias = init.with_fan_in(3 * 3 * 16)((8,))

    Reference:
        - `torch.nn.modules.conv._ConvNd.reset_parameters` (PyTorch).
        - [He et al., 2015](https://arxiv.org/abs/1502.01852)
    """

    def __init__(self, fan_in=None, seed=None):
        bad_int = isinstance(fan_in, bool) or not isinstance(fan_in, int)
        if fan_in is not None and (bad_int or fan_in < 1):
            raise ValueError(f"fan_in must be a positive int; got {fan_in!r}.")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int)
        ):
            raise ValueError(f"seed must be an int or None; got {seed!r}.")
        self.fan_in = fan_in
        self.seed = seed

    def bound(self, shape):
        """Returns 1 / sqrt(fan_in) for a variable of `shape`."""
        shape = tuple(shape)
        fan_in = self.fan_in
        if fan_in is None:
            if len(shape) < 2:
                raise ValueError(
                    f"TorchDefault needs fan_in for shape {shape}; "
                    "use with_fan_in(...) for a bias."
                )
            fan_in = math.prod(shape[:-1])
        return 1.0 / math.sqrt(fan_in)

    def __call__(self, shape, dtype=None):
        bound = self.bound(shape)
        # A fresh integer seed per call (from Python's generator, which
        # `keras.utils.set_random_seed` seeds) also works while tracing.
        seed = self.seed
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        return keras.random.uniform(
            shape, minval=-bound, maxval=bound, dtype=dtype, seed=seed
        )

    def with_fan_in(self, fan_in):
        """Returns a copy with `fan_in` set (for the bias of a layer)."""
        return TorchDefault(fan_in=fan_in, seed=self.seed)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": self.seed}
