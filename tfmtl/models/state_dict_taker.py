"""Reads a PyTorch state dict key by key for the converters."""

import numpy as np


class StateDictTaker:
    """Reads named arrays, checking shapes; remembers what it used.

    Args:
        state_dict: `{name: array}`, as `tfmtl.models.checkpoint_files`
            returns it.
        network: The network's name in error messages.

    Call arguments:
        key: The state-dict key.
        shape: The shape our model expects.

    Example:
    >>> take = StateDictTaker({"fc.bias": np.zeros(3)}, "toy")
    >>> take("fc.bias", (3,)).dtype
    dtype('float32')
    """

    def __init__(self, state_dict, network):
        self.state_dict = state_dict
        self.network = network
        self.used = set()

    def __call__(self, key, shape):
        if key not in self.state_dict:
            raise ValueError(f"The {self.network} state dict has no {key!r}.")
        value = np.asarray(self.state_dict[key])
        if tuple(value.shape) != tuple(shape):
            raise ValueError(
                f"{key!r} has shape {tuple(value.shape)}, our model expects "
                f"{tuple(shape)}."
            )
        self.used.add(key)
        return value.astype(np.float32)
