"""ResNet-18/34/50/101/152 trunk, optionally dilated (DeepLab style), no fc.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR
2016; dilation as in DeepLab (Chen et al., TPAMI 2017) and AdaShare's
Deeplab-ResNet (Sun et al., NeurIPS 2020).
"""

import keras

from tfmtl.models.backbones import builders
from tfmtl.models.backbones.basic_block import BasicBlock
from tfmtl.models.backbones.bottleneck_block import BottleneckBlock
from tfmtl.models.backbones.builders import fresh_initializer

_ARCHITECTURES = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (BottleneckBlock, (3, 4, 6, 3)),
    101: (BottleneckBlock, (3, 4, 23, 3)),
    152: (BottleneckBlock, (3, 8, 36, 3)),
}
_STEM_STRIDES = {"imagenet": 4, "small": 1}


@keras.saving.register_keras_serializable(package="tfmtl")
class ResNet(keras.layers.Layer):
    """ResNet trunk exposing its stem and blocks as cut points.

    `call` runs `stem` and then every layer of `blocks` in order. Stage `i`
    ends at `blocks[stage_ends[i]]`. Each block has `residual(x, training)`
    and `shortcut(x, training)` and returns `relu(residual + shortcut)`.

    With `output_stride` below the natural stride, the strides of the last
    stages are replaced by dilation (DeepLab style): output stride 8 on the
    ImageNet stem gives stage strides (1, 2, 1, 1) and dilations
    (1, 1, 2, 4), as in AdaShare. Every block of a dilated stage uses the
    stage's dilation.

    Args:
        depth: int, one of 18, 34 (basic blocks), 50, 101 or 152
            (bottleneck blocks); the stage depths of torchvision's
            `resnet18` ... `resnet152`.
        output_stride: int, ratio of the input size to the feature size.
            Defaults to the undilated value (32 for the ImageNet stem, 8 for
            the small stem); smaller powers of two (down to a quarter of it)
            dilate the last stages.
        stem: `"imagenet"` (7x7/2 conv, norm, ReLU, 3x3/2 max pool) or
            `"small"` (3x3/1 conv, norm, ReLU; for 32-72 px inputs).
        widths: four ints, the channels of each stage (bottleneck width for
            bottleneck depths); the stem has `widths[0]` channels.
        stride_in_1x1: bool, bottleneck depths only: stride the first 1x1
            convolution of a strided bottleneck (ResNet v1: Caffe, Keras
            applications, AdaShare's Deeplab-ResNet) instead of its 3x3
            convolution (False, the default: v1.5, as torchvision).
        conv: convolution layer class or registered name, used for every
            convolution (e.g. a TAPS or masked convolution).
        norm: normalisation layer class or registered name, used for every
            normalisation.
        norm_synchronized: bool, forwarded as `synchronized=True` to the
            normalisation layers (cross-replica batch statistics).
        norm_momentum: float, moving-average momentum of the normalisation.
        norm_epsilon: float, epsilon of the normalisation.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        images: float tensor [B, H, W, 3].
        training: bool, training mode of the normalisation layers.

    Example:

    >>> backbone = ResNet(18, output_stride=8)
    >>> backbone(keras.ops.ones((1, 64, 64, 3))).shape
    TensorShape([1, 8, 8, 512])
    >>> backbone.stage_ends
    [1, 3, 5, 7]

    Reference:
        - [He et al., 2016](https://arxiv.org/abs/1512.03385)
        - [Chen et al., 2017](https://arxiv.org/abs/1606.00915)
    """

    def __init__(
        self,
        depth=18,
        output_stride=None,
        stem="imagenet",
        widths=(64, 128, 256, 512),
        stride_in_1x1=False,
        conv="Conv2D",
        norm="BatchNormalization",
        norm_synchronized=False,
        norm_momentum=0.9,
        norm_epsilon=1e-5,
        # compat: torchvision uses fan-out He init and AdaShare N(0, 0.01^2).
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if depth not in _ARCHITECTURES:
            raise ValueError(
                f"depth must be one of {sorted(_ARCHITECTURES)}; got {depth}."
            )
        if stem not in _STEM_STRIDES:
            raise ValueError(f"Unknown stem {stem!r}.")
        # The argument names the stem type; the `stem` attribute is the layer.
        stem_type = stem
        natural_stride = _STEM_STRIDES[stem_type] * 8
        output_stride = output_stride or natural_stride
        if output_stride not in (natural_stride // k for k in (1, 2, 4)):
            raise ValueError(
                f"output_stride {output_stride} is not {natural_stride} "
                "divided by 1, 2 or 4."
            )
        self.depth = depth
        self.output_stride = output_stride
        self.stem_type = stem_type
        self.widths = tuple(widths)
        self.stride_in_1x1 = bool(stride_in_1x1)
        builders.set_slots(self, conv, norm, kernel_initializer)
        self.norm_synchronized = norm_synchronized
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon

        norm_kwargs = {
            "synchronized": norm_synchronized,
            "momentum": norm_momentum,
            "epsilon": norm_epsilon,
            "dtype": self.dtype_policy,
        }
        stem_layers = builders.make_conv(
            self.conv,
            self.widths[0],
            7 if stem_type == "imagenet" else 3,
            strides=2 if stem_type == "imagenet" else 1,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="stem_conv",
        )
        stem_layers += [
            builders.make_norm(self.norm, name="stem_bn", **norm_kwargs),
            keras.layers.ReLU(dtype=self.dtype_policy, name="stem_relu"),
        ]
        if stem_type == "imagenet":
            # Zero padding equals -inf padding after the ReLU; floor mode.
            # compat: AdaShare pools with ceil_mode=True (321 -> 41 features).
            stem_layers += [
                keras.layers.ZeroPadding2D(1, dtype=self.dtype_policy),
                keras.layers.MaxPooling2D(3, 2, dtype=self.dtype_policy),
            ]
        self.stem = keras.Sequential(stem_layers, name="stem")

        block_cls, counts = _ARCHITECTURES[depth]
        if self.stride_in_1x1 and block_cls is not BottleneckBlock:
            raise ValueError("stride_in_1x1 needs a bottleneck depth (>= 50).")
        block_kwargs = {"stride_in_1x1": True} if self.stride_in_1x1 else {}
        self.blocks = []
        self.stage_ends = []
        stride, dilation = _STEM_STRIDES[stem_type], 1
        channels = self.widths[0]
        # compat: torchvision keeps the previous dilation in the first block of
        # a dilated stage, and AdaShare also projects the shortcut when only
        # the dilation changes; here every block of a stage shares its
        # dilation and projections depend on stride and channels only.
        for stage, (width, count) in enumerate(zip(self.widths, counts)):
            stage_stride = 1 if stage == 0 else 2
            if stride * stage_stride > output_stride:
                dilation *= stage_stride
                stage_stride = 1
            stride *= stage_stride
            for index in range(count):
                strides = stage_stride if index == 0 else 1
                out_channels = width * block_cls.expansion
                self.blocks.append(
                    block_cls(
                        width,
                        strides=strides,
                        dilation_rate=dilation,
                        use_projection=strides != 1 or channels != out_channels,
                        conv=self.conv,
                        norm=self.norm,
                        norm_synchronized=norm_synchronized,
                        norm_momentum=norm_momentum,
                        norm_epsilon=norm_epsilon,
                        kernel_initializer=fresh_initializer(
                            self.kernel_initializer
                        ),
                        dtype=self.dtype_policy,
                        name=f"stage{stage + 1}_block{index + 1}",
                        **block_kwargs,
                    )
                )
                channels = out_channels
            self.stage_ends.append(len(self.blocks) - 1)
        self.output_channels = channels

    def build(self, input_shape):
        shape = builders.free_spatial(input_shape)
        if not self.stem.built:
            self.stem.build(shape)
        builders.build_layers(
            self.blocks, self.stem.compute_output_shape(shape)
        )
        self.built = True

    def call(self, images, training=None):
        x = self.stem(images, training=training)
        return builders.apply_layers(self.blocks, x, training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        spatial = [
            None if size is None else -(-size // self.output_stride)
            for size in shape[1:-1]
        ]
        return (shape[0], *spatial, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "output_stride": self.output_stride,
                "stem": self.stem_type,
                "widths": list(self.widths),
                "stride_in_1x1": self.stride_in_1x1,
                **builders.slot_config(self),
            }
        )
        return config
