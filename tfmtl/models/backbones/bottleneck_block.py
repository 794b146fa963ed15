"""ResNet bottleneck block (1x1, 3x3, 1x1 convolutions, expansion 4).

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR
2016. The stride sits on the 3x3 convolution (ResNet v1.5, torchvision's
`Bottleneck`) or, with `stride_in_1x1`, on the first 1x1 convolution (v1,
the paper's Caffe models and AdaShare's Deeplab-ResNet).
"""

import keras

from tfmtl.models.backbones.basic_block import BasicBlock


@keras.saving.register_keras_serializable(package="tfmtl")
class BottleneckBlock(BasicBlock):
    """ResNet bottleneck block: `relu(residual(x) + shortcut(x))`.

    The residual branch is conv1x1 (`filters`) -> norm -> ReLU -> conv3x3
    (`filters`, strided, dilated) -> norm -> ReLU -> conv1x1
    (`4 * filters`) -> norm; with `stride_in_1x1` the first 1x1 convolution
    is strided instead of the 3x3. The shortcut is the identity or, with
    `use_projection`, a strided 1x1 convolution to `4 * filters` channels and
    a norm. Methods that skip a block (AdaShare) use `shortcut` alone.

    Args:
        filters: int, bottleneck width; the block outputs `4 * filters`
            channels.
        strides: int, stride of the 3x3 convolution (or of the first 1x1,
            see `stride_in_1x1`) and of the projection.
        dilation_rate: int, dilation of the 3x3 convolution.
        use_projection: bool, whether the shortcut is a 1x1 conv + norm.
        stride_in_1x1: bool, stride the first 1x1 convolution (ResNet v1)
            rather than the 3x3 (v1.5, the default).
        conv: convolution layer class or registered name.
        norm: normalisation layer class or registered name.
        norm_synchronized: bool, forwarded as `synchronized=True` to the
            normalisation layers.
        norm_momentum: float, moving-average momentum of the normalisation.
        norm_epsilon: float, epsilon of the normalisation.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor [B, H, W, C].
        training: bool, training mode of the normalisation layers.

    Example:

    >>> block = BottleneckBlock(4, use_projection=True)
    >>> block(keras.ops.ones((1, 8, 8, 8))).shape
    TensorShape([1, 8, 8, 16])

    Reference:
        - [He et al., 2016](https://arxiv.org/abs/1512.03385)
    """

    expansion = 4

    def __init__(self, filters, stride_in_1x1=False, **kwargs):
        # Read by `_make_residual_layers`, which the base __init__ calls.
        self._stride_in_1x1 = bool(stride_in_1x1)
        super().__init__(filters, **kwargs)

    @property
    def stride_in_1x1(self):
        """Whether the first 1x1 convolution carries the stride (v1)."""
        return self._stride_in_1x1

    def _make_residual_layers(self):
        stride_1x1 = self.strides if self.stride_in_1x1 else 1
        stride_3x3 = 1 if self.stride_in_1x1 else self.strides
        return [
            *self._make_conv(self.filters, 1, stride_1x1, 1, "conv1"),
            self._make_norm("bn1"),
            keras.layers.ReLU(dtype=self.dtype_policy, name="relu1"),
            *self._make_conv(
                self.filters, 3, stride_3x3, self.dilation_rate, "conv2"
            ),
            self._make_norm("bn2"),
            keras.layers.ReLU(dtype=self.dtype_policy, name="relu2"),
            *self._make_conv(self.output_channels, 1, 1, 1, "conv3"),
            self._make_norm("bn3"),
        ]

    def get_config(self):
        config = super().get_config()
        config["stride_in_1x1"] = self.stride_in_1x1
        return config
