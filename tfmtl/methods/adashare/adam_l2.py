"""Adam with coupled L2 weight decay (PyTorch's `Adam(weight_decay=...)`)."""

import keras

from tfmtl.methods.adashare.coupled_l2 import CoupledL2


@keras.saving.register_keras_serializable(package="tfmtl")
class AdamL2(CoupledL2, keras.optimizers.Adam):
    """Adam whose weight decay is an L2 term added to the gradient.

    Every update uses the gradient `g + l2 * w` before the moment estimates,
    as PyTorch's `torch.optim.Adam(weight_decay=l2)`, which AdaShare uses
    for its warm-up and retraining. Keras' own `weight_decay` is decoupled
    (AdamW) and gives different updates.

    # compat: Keras adds `epsilon` to sqrt(v) before the bias correction,
    # PyTorch after it; the two agree when epsilon is negligible.

    Args:
        l2: float, the coupled decay coefficient.
        **kwargs: forwarded to `keras.optimizers.Adam`.

    Example:
    ```python
    optimizer = AdamL2(l2=1e-4, learning_rate=1e-3, beta_1=0.5)
    ```

    Reference:
        Kingma and Ba, "Adam", ICLR 2015; Loshchilov and Hutter, "Decoupled
        Weight Decay Regularization", ICLR 2019 (the difference).
    """
