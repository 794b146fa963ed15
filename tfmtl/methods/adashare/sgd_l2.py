"""SGD with coupled L2 weight decay (PyTorch's `SGD(weight_decay=...)`)."""

import keras

from tfmtl.methods.adashare.coupled_l2 import CoupledL2


@keras.saving.register_keras_serializable(package="tfmtl")
class SGDL2(CoupledL2, keras.optimizers.SGD):
    """SGD (with momentum) whose weight decay is an L2 gradient term.

    Every update uses the gradient `g + l2 * w` before the momentum, as
    PyTorch's `torch.optim.SGD(weight_decay=l2)`, which AdaShare uses for
    the weight phases of policy learning.

    Args:
        l2: float, the coupled decay coefficient.
        **kwargs: forwarded to `keras.optimizers.SGD`.

    Example:
    ```python
    optimizer = SGDL2(l2=1e-4, learning_rate=1e-3, momentum=0.9)
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (`train.py` of the official
        code).
    """

    def reset_momentum(self):
        """Zeroes the momentum buffers (as re-creating the optimizer)."""
        for momentum in getattr(self, "momentums", []) or []:
            if momentum is not None:
                momentum.assign(keras.ops.zeros_like(momentum))
