"""VGG-16 trunk with batch norm, optionally DeepLab-LargeFOV (output stride 8).

Reference: Simonyan & Zisserman, ICLR 2015; Chen et al., "DeepLab", TPAMI
2017 (LargeFOV); the batch-norm variant used by NDDR-CNN (Gao et al., CVPR
2019) and MTL-NAS (Gao et al., CVPR 2020).
"""

import keras

from tfmtl.models.backbones import builders, vgg16_weights
from tfmtl.models.backbones.builders import fresh_initializer

_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512,) * 3, (512,) * 3)
# Caffe / DeepLab input mean (BGR 104.008, 116.669, 122.679) in RGB order.
_CAFFE_MEAN_RGB = (122.679, 116.669, 104.008)
PREPROCESSING = (None, "caffe")


@keras.saving.register_keras_serializable(package="tfmtl")
class VGG16(keras.layers.Layer):
    """VGG-16 convolutional stages; every convolution is conv + norm + ReLU.

    `call` runs `stem` (an identity, or the input preprocessing) and then
    every layer of `blocks`.
    Unlike ResNet blocks, VGG blocks are plain stages (`keras.Sequential`):
    they have no `residual`/`shortcut`, so block-skipping methods do not
    apply. `stages` is the same list as `blocks`.

    With `deeplab_largefov`, pool1-3 are 3x3/2 max pools, pool4 and pool5
    are 3x3/1 max pools (pool5 followed by a 3x3/1 average pool), conv5 uses
    dilation 2, and a last stage holds fc6 (3x3 conv, dilation 12, 1024
    channels) and fc7 (1x1 conv, 1024 channels), each followed by dropout:
    output stride 8, 1024 channels. Otherwise the pools are 2x2/2: output
    stride 32, 512 channels.

    By default a block is one VGG stage ending with its pooling (the NDDR-CNN
    cut points; 6 blocks with LargeFOV, 5 without). With `per_conv_blocks`
    every convolution is a block that starts with the preceding stage's
    pooling (the 13 + 2 cut points of MTL-NAS); `stage_ends` then indexes the
    last convolution of each stage.

    Args:
        deeplab_largefov: bool, DeepLab-LargeFOV variant (see above).
        per_conv_blocks: bool, one block per convolution instead of per stage.
        dropout: float, dropout rate after fc6 and fc7.
        conv: convolution layer class or registered name.
        norm: normalisation layer class or registered name.
        norm_synchronized: bool, forwarded as `synchronized=True` to the
            normalisation layers.
        norm_momentum: float, moving-average momentum (0.95 = PyTorch 0.05,
            as in MTL-NAS).
        norm_epsilon: float, epsilon of the normalisation.
        kernel_initializer: initializer of the convolution kernels.
        pretrained: None, or the path of a local weights file loaded when
            the backbone is built (e.g. DeepLab-LargeFOV's ImageNet init or
            a fine-tuned single-task network; formats and error cases:
            `tfmtl.models.backbones.vgg16_weights`). Nothing is downloaded.
        pretrained_channel_order: `"rgb"`, or `"bgr"` for Caffe / DeepLab
            conversions whose `conv1_1` expects BGR input.
        width_scale: float, every layer's channel count is multiplied by
            it (rounded, at least 1); 1 is VGG-16, smaller values give a
            cheap network of the same layout (tests, synthetic runs).
        preprocessing: None (the pipeline's RGB in [0, 1] as is) or
            `"caffe"`: `255 * x - mean` with the Caffe / DeepLab mean, the
            input the converted DeepLab weights expect (with
            `pretrained_channel_order="bgr"` for the channel order).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        images: float tensor [B, H, W, 3].
        training: bool, training mode of normalisation and dropout.

    Example:

    >>> backbone = VGG16()
    >>> backbone(keras.ops.ones((1, 32, 32, 3))).shape
    TensorShape([1, 4, 4, 1024])

    Reference:
        - [Simonyan & Zisserman, 2015](https://arxiv.org/abs/1409.1556)
        - [Chen et al., 2017](https://arxiv.org/abs/1606.00915)
        - [Gao et al., 2020](https://arxiv.org/abs/2003.14058)
    """

    def __init__(
        self,
        deeplab_largefov=True,
        per_conv_blocks=False,
        dropout=0.5,
        conv="Conv2D",
        norm="BatchNormalization",
        norm_synchronized=False,
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        kernel_initializer="he_normal",
        pretrained=None,
        pretrained_channel_order="rgb",
        preprocessing=None,
        width_scale=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if preprocessing not in PREPROCESSING:
            raise ValueError(
                f"Unknown preprocessing {preprocessing!r}; expected one of "
                f"{PREPROCESSING}."
            )
        self.pretrained = None if pretrained is None else str(pretrained)
        self.pretrained_channel_order = pretrained_channel_order
        self.preprocessing = preprocessing
        self.width_scale = float(width_scale)
        self.deeplab_largefov = deeplab_largefov
        self.per_conv_blocks = per_conv_blocks
        self.dropout = dropout
        builders.set_slots(self, conv, norm, kernel_initializer)
        self.norm_synchronized = norm_synchronized
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon

        stages = []
        for i, widths in enumerate(_STAGES):
            dilation = 2 if i == 4 and deeplab_largefov else 1
            units = [
                self._unit(self._width(f), 3, dilation, f"conv{i + 1}_{j + 1}")
                for j, f in enumerate(widths)
            ]
            stages.append((units, self._pool(i)))
        if deeplab_largefov:
            stages.append(
                (
                    [
                        self._unit(
                            self._width(1024), 3, 12, "fc6", dropout=True
                        ),
                        self._unit(
                            self._width(1024), 1, 1, "fc7", dropout=True
                        ),
                    ],
                    [],
                )
            )
        block_layers, names, carry = [], [], []
        self.stage_ends = []
        for index, (units, pool) in enumerate(stages):
            if per_conv_blocks:
                # A stage's pooling starts the next stage's first block.
                for unit in units:
                    block_layers.append(carry + unit)
                    names.append(unit[0].name.removesuffix("_conv"))
                    carry = []
                carry = pool
            else:
                block_layers.append([x for unit in units for x in unit] + pool)
                names.append(f"stage{index + 1}")
            self.stage_ends.append(len(block_layers) - 1)
        block_layers[-1] += carry
        if preprocessing == "caffe":
            self.stem = keras.layers.Rescaling(
                255.0,
                offset=[-m for m in _CAFFE_MEAN_RGB],
                dtype=self.dtype_policy,
                name="stem",
            )
        else:
            self.stem = keras.layers.Identity(
                dtype=self.dtype_policy, name="stem"
            )
        self.blocks = [
            keras.Sequential(layers, name=name)
            for layers, name in zip(block_layers, names)
        ]
        self.output_channels = self._width(1024 if deeplab_largefov else 512)
        self.output_stride = 8 if deeplab_largefov else 32

    @property
    def stages(self):
        """The blocks (plain stages, see the class docstring)."""
        return self.blocks

    def _width(self, channels):
        return max(1, round(channels * self.width_scale))

    def _unit(self, filters, kernel_size, dilation, name, dropout=False):
        layers = builders.make_conv(
            self.conv,
            filters,
            kernel_size,
            dilation_rate=dilation,
            use_bias=True,  # Keeps DeepLab's checkpoint layout (bias + BN).
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name + "_conv",
        )
        layers += [
            builders.make_norm(
                self.norm,
                self.norm_synchronized,
                self.norm_momentum,
                self.norm_epsilon,
                dtype=self.dtype_policy,
                name=name + "_bn",
            ),
            keras.layers.ReLU(dtype=self.dtype_policy),
        ]
        if dropout:
            layers.append(
                keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
            )
        return layers

    def _pool(self, stage):
        dtype = self.dtype_policy
        if not self.deeplab_largefov:
            return [keras.layers.MaxPooling2D(2, 2, dtype=dtype)]
        strides = 2 if stage < 3 else 1
        pools = [keras.layers.MaxPooling2D(3, strides, "same", dtype=dtype)]
        if stage == 4:
            # compat: TF "same" average pooling excludes the padded pixels.
            pools.append(
                keras.layers.AveragePooling2D(3, 1, "same", dtype=dtype)
            )
        return pools

    def build(self, input_shape):
        shape = builders.free_spatial(input_shape)
        if not self.stem.built:
            self.stem.build(shape)
        builders.build_layers(self.blocks, shape)
        self.built = True
        self.load_pretrained()

    def load_pretrained(self, path=None, **kwargs):
        """Loads pretrained weights into the built backbone.

        Called by `build` (and by NDDR / MTL-NAS after building the branch).

        Args:
            path: weights file (default: the `pretrained` argument; nothing
                happens when both are None).
            **kwargs: forwarded to `vgg16_weights.load_vgg16_weights`
                (`channel_order` defaults to `pretrained_channel_order`).
        """
        path = path or self.pretrained
        if path is None:
            return
        kwargs.setdefault("channel_order", self.pretrained_channel_order)
        vgg16_weights.load_vgg16_weights(self, path, **kwargs)

    def call(self, images, training=None):
        x = self.stem(images, training=training)
        return builders.apply_layers(self.blocks, x, training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for block in self.blocks:
            shape = tuple(block.compute_output_shape(shape))
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "deeplab_largefov": self.deeplab_largefov,
                "per_conv_blocks": self.per_conv_blocks,
                "dropout": self.dropout,
                **builders.slot_config(self),
                "pretrained": self.pretrained,
                "pretrained_channel_order": self.pretrained_channel_order,
                "preprocessing": self.preprocessing,
                "width_scale": self.width_scale,
            }
        )
        return config
