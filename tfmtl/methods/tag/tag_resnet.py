"""The tiny one-block ResNet trunk of TAG's CelebA experiments.

Reference: Fifty et al., "Efficiently Identifying Task Groupings for
Multi-Task Learning", NeurIPS 2021 (`google-research/tag/celeba`, where the
class is called `ResNet18`).
"""

import keras

from tfmtl.models.backbones import builders
from tfmtl.models.backbones.basic_block import BasicBlock
from tfmtl.models.backbones.builders import fresh_initializer


@keras.saving.register_keras_serializable(package="tfmtl")
class TAGResNet(keras.layers.Layer):
    """TAG's CelebA trunk: conv stem, one basic block, average pool, flatten.

    The stem is a 3x3 convolution (no bias), norm, ReLU and a 3x3/2 `"valid"`
    max pool; `blocks` holds one `BasicBlock` with an identity shortcut;
    `pool` is the 2x2 average pool followed (when `flatten`) by a flatten.
    `call` runs `stem`, `blocks` and then `pool`, so methods that iterate
    over the blocks must apply `pool` last. A 64x64 input gives 14,400
    features; the trunk has 75,840 trainable parameters.

    Args:
        filters: int, channels of every convolution.
        flatten: bool, whether to flatten the pooled feature map.
        conv: convolution layer class or registered name.
        norm: normalisation layer class or registered name.
        norm_synchronized: bool, forwarded as `synchronized=True` to the
            normalisation layers.
        norm_momentum: float, moving-average momentum of the normalisation
            (Keras default, as in the reference).
        norm_epsilon: float, epsilon of the normalisation.
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        images: float tensor [B, H, W, 3].
        training: bool, training mode of the normalisation layers.

    Example:

    >>> trunk = TAGResNet()
    >>> trunk(keras.ops.ones((2, 64, 64, 3))).shape
    TensorShape([2, 14400])

    Reference:
        - [Fifty et al., 2021](https://arxiv.org/abs/2109.04617)
    """

    def __init__(
        self,
        filters=64,
        flatten=True,
        conv="Conv2D",
        norm="BatchNormalization",
        norm_synchronized=False,
        norm_momentum=0.99,
        norm_epsilon=1e-3,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.flatten = flatten
        builders.set_slots(self, conv, norm, kernel_initializer)
        self.norm_synchronized = norm_synchronized
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon

        dtype = self.dtype_policy
        self.stem = keras.Sequential(
            [
                *builders.make_conv(
                    self.conv,
                    filters,
                    3,
                    kernel_initializer=fresh_initializer(
                        self.kernel_initializer
                    ),
                    dtype=dtype,
                    name="stem_conv",
                ),
                builders.make_norm(
                    self.norm,
                    norm_synchronized,
                    norm_momentum,
                    norm_epsilon,
                    dtype=dtype,
                    name="stem_bn",
                ),
                keras.layers.ReLU(dtype=dtype),
                keras.layers.MaxPooling2D(3, 2, padding="valid", dtype=dtype),
            ],
            name="stem",
        )
        self.blocks = [
            BasicBlock(
                filters,
                conv=self.conv,
                norm=self.norm,
                norm_synchronized=norm_synchronized,
                norm_momentum=norm_momentum,
                norm_epsilon=norm_epsilon,
                kernel_initializer=fresh_initializer(self.kernel_initializer),
                dtype=dtype,
                name="block1",
            )
        ]
        self.stage_ends = [0]
        pool_layers = [keras.layers.AveragePooling2D(2, dtype=dtype)]
        if flatten:
            pool_layers.append(keras.layers.Flatten(dtype=dtype))
        self.pool = keras.Sequential(pool_layers, name="pool")
        self.output_channels = filters
        # Nominal: features are pooled 2x twice (and then flattened).
        self.output_stride = 4

    def build(self, input_shape):
        shape = tuple(input_shape)
        if not self.stem.built:
            self.stem.build(shape)
        shape = builders.build_layers(
            self.blocks, self.stem.compute_output_shape(shape)
        )
        if not self.pool.built:
            self.pool.build(shape)
        self.built = True

    def call(self, images, training=None):
        x = self.stem(images, training=training)
        x = builders.apply_layers(self.blocks, x, training)
        return self.pool(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "flatten": self.flatten,
                **builders.slot_config(self),
            }
        )
        return config
