"""One task's side of an NDDR fusion: concat -> 1x1 conv -> norm -> ReLU."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods.mtl_nas.fusion import Fusion


@keras.saving.register_keras_serializable(package="tfmtl")
class NDDRFusion(Fusion):
    """Fuses a task's own features with features of other tasks.

    The inputs (own features first, then `k` incoming tensors of the same
    shape, `C` channels each) are concatenated along channels and reduced
    back to `C` channels by a 1x1 convolution without bias, followed by batch
    normalisation and ReLU. With `init_weights=(w_self, w_other)` the kernel
    starts as `w_self * I` on the own slice and `w_other / k * I` on each
    incoming slice, so `(1, 0)` starts as the task's own features only.

    This is the single-sided fusion op of MTL-NAS; `NDDRLayer` runs one per
    task over the same features (the symmetric NDDR layer of NDDR-CNN).

    Args:
        num_inputs: int, number of fused tensors (own + incoming, >= 1).
        init_weights: `(w_self, w_other)` for the identity-block init, or
            None to use `kernel_initializer`.
        kernel_initializer: initializer used when `init_weights` is None.
        norm_momentum: float, moving-average momentum (Keras convention:
            0.95 is PyTorch's 0.05).
        norm_epsilon: float, epsilon of the normalisation.
        activation: bool, apply the final ReLU.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list of `num_inputs` float tensors [B, H, W, C]; the first
            is the task's own features.
        training: bool, training mode of the normalisation.

    Example:

    >>> fusion = NDDRFusion(2, init_weights=(1.0, 0.0))
    >>> x = keras.ops.ones((1, 4, 4, 8))
    >>> fusion([x, 2 * x]).shape
    TensorShape([1, 4, 4, 8])

    Reference:
        - [Gao et al., 2019](https://arxiv.org/abs/1801.08297)
        - [Gao et al., 2020](https://arxiv.org/abs/2003.14058)
    """

    def __init__(
        self,
        num_inputs,
        init_weights=(0.9, 0.1),
        kernel_initializer="he_normal",
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        activation=True,
        **kwargs,
    ):
        super().__init__(num_inputs, init_weights, **kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.activation = activation
        self.norm = keras.layers.BatchNormalization(
            momentum=norm_momentum,
            epsilon=norm_epsilon,
            dtype=self.dtype_policy,
            name="bn",
        )

    def _initial_kernel(self, channels):
        w_self, w_other = self.init_weights
        blocks = [w_self * np.eye(channels, dtype=np.float32)]
        k = self.num_inputs - 1
        if k:
            blocks += [w_other / k * np.eye(channels, dtype=np.float32)] * k
        return np.concatenate(blocks, axis=0)[None, None]

    def build(self, input_shape):
        shape = tuple(input_shape[0])
        channels = shape[-1]
        if self.init_weights is None:
            initializer = self.kernel_initializer
        else:
            kernel = self._initial_kernel(channels)

            def initializer(shape, dtype=None):
                del shape
                return tf.cast(kernel, dtype or "float32")

        self.kernel = self.add_weight(
            name="kernel",
            shape=(1, 1, channels * self.num_inputs, channels),
            initializer=initializer,
        )
        self.norm.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        self._check_inputs(inputs)
        x = inputs[0] if len(inputs) == 1 else tf.concat(inputs, axis=-1)
        kernel = tf.cast(self.kernel, x.dtype)
        x = tf.nn.conv2d(x, kernel, strides=1, padding="VALID")
        x = self.norm(x, training=training)
        return tf.nn.relu(x) if self.activation else x

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "activation": self.activation,
            }
        )
        return config
