"""The shared Xception encoder of TAG's Taskonomy experiments.

Reference: `Encoder`, `Block`, `SeparableConv2d` and the shared
`final_conv` / `final_conv_bn` of `XceptionTaskonomy` in
`model_definitions/xception_taskonomy_new.py` of
github.com/tstandley/taskgrouping, with the widths of `size=3` that
google-research `tag/taskonomy/xception_taskonomy_new.patch` selects for
`xception_taskonomy_new`.
"""

import keras

PATCH_SIZES = (48, 96, 196, 384) + (1092,) * 9


def _conv(filters, kernel, strides=1, bias=False, name=None):
    """A PyTorch-padded convolution (pad k // 2 on every side, then valid)."""
    layers = []
    if kernel > 1:
        layers.append(keras.layers.ZeroPadding2D(kernel // 2))
    layers.append(
        keras.layers.Conv2D(
            filters,
            kernel,
            strides,
            use_bias=bias,
            kernel_initializer="he_normal",
            name=name,
        )
    )
    return layers


def _separable(filters):
    return keras.layers.SeparableConv2D(
        filters, 3, padding="same", use_bias=False
    )


def _block(x, filters, reps, strides, start_with_relu):
    """`Block(in, out, reps, strides, start_with_relu, grow_first=True)`."""
    skip = x
    if filters != x.shape[-1] or strides != 1:
        skip = keras.layers.Conv2D(filters, 1, strides, use_bias=False)(x)
        skip = keras.layers.BatchNormalization()(skip)
    for i in range(reps):
        if i or start_with_relu:
            x = keras.layers.ReLU()(x)
        x = _separable(filters)(x)
        x = keras.layers.BatchNormalization()(x)
    if strides != 1:
        x = keras.layers.Conv2D(filters, 2, 2)(x)
    return keras.layers.Add()([x, skip])


@keras.saving.register_keras_serializable(package="tfmtl")
class TaskonomyXception(keras.layers.Layer):
    """Xception encoder plus the shared 512-channel separable projection.

    Stem: 3x3/2 and 3x3 convolutions (no bias) with BatchNorm and ReLU;
    three residual blocks of two separable convolutions ending in a learnt
    2x2/2 convolution, eight of three at constant width, a ReLU; then the
    shared `final_conv` (separable 3x3 to 512) and its BatchNorm, no ReLU.
    Output stride 16: a 256x256 input gives [B, 16, 16, 512].

    Args:
        sizes: 13 widths (the patch's `size=3` by default).
        output_channels: channels of the shared projection (512).
        **kwargs: base layer arguments.

    Call arguments:
        images: float tensor [B, H, W, 3], H and W multiples of 16.
        training: bool, BatchNorm mode.

    Example:

    >>> trunk = TaskonomyXception(sizes=(4, 4, 8, 8) + (8,) * 9,
    ...                           output_channels=8)
    >>> trunk(keras.ops.ones((1, 32, 32, 3))).shape
    TensorShape([1, 2, 2, 8])

    Reference:
        - [Standley et al., 2020](https://arxiv.org/abs/1905.07553)
        - [Fifty et al., 2021](https://arxiv.org/abs/2109.04617)
    """

    # compat: kernels use Keras' he_normal, not the reference's
    # normal(0, sqrt(2 / (k * k * out_channels))) over every nn.Conv2d;
    # BatchNorm keeps Keras' momentum 0.99 / epsilon 1e-3 (PyTorch: 0.1
    # update / 1e-5).

    def __init__(self, sizes=PATCH_SIZES, output_channels=512, **kwargs):
        super().__init__(**kwargs)
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) != 13:
            raise ValueError(f"sizes must hold 13 widths, not {sizes}")
        self.sizes, self.output_channels = sizes, int(output_channels)
        self.output_stride = 16
        self.network = None

    def build(self, input_shape):
        inputs = keras.Input(tuple(input_shape)[1:])
        x = inputs
        for filters, strides in ((self.sizes[0], 2), (self.sizes[1], 1)):
            for layer in _conv(filters, 3, strides):
                x = layer(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
        for i, filters in enumerate(self.sizes[2:]):
            down = i < 3
            x = _block(x, filters, 2 if down else 3, 2 if down else 1, i > 0)
        x = keras.layers.ReLU()(x)
        x = _separable(self.output_channels)(x)
        x = keras.layers.BatchNormalization()(x)
        self.network = keras.Model(inputs, x, name="xception")
        self.built = True

    def call(self, images, training=None):
        return self.network(images, training=training)

    def compute_output_shape(self, input_shape):
        b, h, w = tuple(input_shape)[:3]
        down = [None if d is None else d // 16 for d in (h, w)]
        return (b, *down, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sizes": list(self.sizes),
                "output_channels": self.output_channels,
            }
        )
        return config
