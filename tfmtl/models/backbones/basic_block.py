"""ResNet basic block (two 3x3 convolutions), split into residual and shortcut.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR
2016; the split into `residual` and `shortcut` follows the gating of AdaShare
(Sun et al., NeurIPS 2020).
"""

import keras

from tfmtl.models.backbones import builders
from tfmtl.models.backbones.builders import fresh_initializer


@keras.saving.register_keras_serializable(package="tfmtl")
class BasicBlock(keras.layers.Layer):
    """ResNet basic block: `relu(residual(x) + shortcut(x))`.

    The residual branch is conv3x3 (strided, dilated) -> norm -> ReLU ->
    conv3x3 (dilated) -> norm. The shortcut is the identity, or a 1x1 strided
    convolution and norm when `use_projection` is set (needed when the stride
    or the number of channels changes). Methods that skip a block (AdaShare)
    use `shortcut` alone.

    Args:
        filters: int, output channels.
        strides: int, stride of the first convolution and the projection.
        dilation_rate: int, dilation of both 3x3 convolutions.
        use_projection: bool, whether the shortcut is a 1x1 conv + norm.
        conv: convolution layer class or registered name (Conv2D-like
            constructor).
        norm: normalisation layer class or registered name
            (BatchNormalization-like constructor).
        norm_synchronized: bool, forwarded as `synchronized=True` to the
            normalisation layers (cross-replica batch statistics).
        norm_momentum: float, moving-average momentum of the normalisation.
        norm_epsilon: float, epsilon of the normalisation.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor [B, H, W, C].
        training: bool, training mode of the normalisation layers.

    Example:

    >>> block = BasicBlock(8, strides=2, use_projection=True)
    >>> block(keras.ops.ones((1, 8, 8, 4))).shape
    TensorShape([1, 4, 4, 8])

    Reference:
        - [He et al., 2016](https://arxiv.org/abs/1512.03385)
    """

    expansion = 1

    def __init__(
        self,
        filters,
        strides=1,
        dilation_rate=1,
        use_projection=False,
        conv="Conv2D",
        norm="BatchNormalization",
        norm_synchronized=False,
        norm_momentum=0.9,
        norm_epsilon=1e-5,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.use_projection = use_projection
        builders.set_slots(self, conv, norm, kernel_initializer)
        self.norm_synchronized = norm_synchronized
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon

        if not use_projection and strides != 1:
            raise ValueError("A strided block needs `use_projection=True`.")
        self.residual_layers = self._make_residual_layers()
        self.shortcut_layers = []
        if use_projection:
            self.shortcut_layers = [
                *self._make_conv(
                    self.output_channels, 1, strides, 1, "proj_conv"
                ),
                self._make_norm("proj_bn"),
            ]

    @property
    def output_channels(self):
        """Number of output channels (`filters * expansion`)."""
        return self.filters * self.expansion

    def _make_residual_layers(self):
        return [
            *self._make_conv(
                self.filters, 3, self.strides, self.dilation_rate, "conv1"
            ),
            self._make_norm("bn1"),
            keras.layers.ReLU(dtype=self.dtype_policy, name="relu1"),
            *self._make_conv(self.filters, 3, 1, self.dilation_rate, "conv2"),
            self._make_norm("bn2"),
        ]

    def _make_conv(self, filters, kernel_size, strides, dilation_rate, name):
        return builders.make_conv(
            self.conv,
            filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def _make_norm(self, name):
        return builders.make_norm(
            self.norm,
            self.norm_synchronized,
            self.norm_momentum,
            self.norm_epsilon,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        if not self.use_projection and input_shape[-1] != self.output_channels:
            raise ValueError(
                f"Identity shortcut needs {self.output_channels} input "
                f"channels, got {input_shape[-1]}; set `use_projection`."
            )
        builders.build_layers(self.residual_layers, input_shape)
        builders.build_layers(self.shortcut_layers, input_shape)
        self.built = True

    def residual(self, x, training=None):
        """Returns the residual branch (before the addition)."""
        return builders.apply_layers(self.residual_layers, x, training)

    def shortcut(self, x, training=None):
        """Returns the shortcut branch (identity or projection)."""
        return builders.apply_layers(self.shortcut_layers, x, training)

    def call(self, inputs, training=None):
        return keras.ops.relu(
            self.residual(inputs, training) + self.shortcut(inputs, training)
        )

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.residual_layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "use_projection": self.use_projection,
                **builders.slot_config(self),
            }
        )
        return config
