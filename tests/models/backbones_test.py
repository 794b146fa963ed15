"""Tests for tfmtl.models.backbones."""

import json

import keras
import numpy as np
import pytest

from tfmtl.methods.tag.tag_resnet import TAGResNet
from tfmtl.models.backbones import (
    VGG16,
    BasicBlock,
    BottleneckBlock,
    ResNet,
)
from tfmtl.models.backbones.builders import fresh_initializer
from tfmtl.models.heads import ClassifierHead, DenseHead

SMALL = (4, 8, 8, 16)


@keras.saving.register_keras_serializable(package="tfmtl_test")
class MarkedConv2D(keras.layers.Conv2D):
    """A Conv2D subclass standing in for a method's own convolution."""


@keras.saving.register_keras_serializable(package="tfmtl_test")
class MarkedNorm(keras.layers.BatchNormalization):
    """A BatchNormalization subclass standing in for a method's own norm."""


def _images(batch=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch, size, size, 3)).astype("float32")


def _num_trainable(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def _conv(k, c_in, c_out):
    return k * k * c_in * c_out


def _bn(c):
    return 2 * c  # gamma and beta


def _expected_resnet_params(depth, widths=(64, 128, 256, 512)):
    """Trainable parameters of a torchvision ResNet trunk, by hand."""
    counts = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    expansion = 4 if depth == 50 else 1
    total = _conv(7, 3, widths[0]) + _bn(widths[0])
    c_in = widths[0]
    for stage, (w, n) in enumerate(zip(widths, counts)):
        for i in range(n):
            c_out = w * expansion
            if depth == 50:
                total += _conv(1, c_in, w) + _bn(w) + _conv(3, w, w) + _bn(w)
                total += _conv(1, w, c_out) + _bn(c_out)
            else:
                total += _conv(3, c_in, w) + _bn(w) + _conv(3, w, w) + _bn(w)
            if (stage > 0 and i == 0) or c_in != c_out:
                total += _conv(1, c_in, c_out) + _bn(c_out)
            c_in = c_out
    return total


def _assert_config_round_trip(layer, inputs):
    expected = layer(inputs, training=False)
    config = layer.get_config()
    json.dumps(config)
    clone = layer.__class__.from_config(config)
    clone(inputs, training=False)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        clone(inputs, training=False), expected, rtol=1e-5, atol=1e-5
    )
    assert clone.get_config() == config
    return clone


@pytest.mark.parametrize(
    "depth, torchvision_params",
    [(18, 11_176_512), (34, 21_284_672), (50, 23_508_032)],
)
def test_resnet_parameter_counts_match_torchvision(depth, torchvision_params):
    assert _expected_resnet_params(depth) == torchvision_params
    backbone = ResNet(depth)
    backbone.build((1, 32, 32, 3))
    assert _num_trainable(backbone) == torchvision_params


@pytest.mark.parametrize(
    "kwargs, size, expected",
    [
        ({"depth": 18}, 64, (2, 2, 2, 16)),
        ({"depth": 18, "output_stride": 16}, 64, (2, 4, 4, 16)),
        ({"depth": 34, "output_stride": 8}, 64, (2, 8, 8, 16)),
        ({"depth": 50, "output_stride": 8}, 32, (2, 4, 4, 64)),
        ({"depth": 18, "stem": "small"}, 32, (2, 4, 4, 16)),
        ({"depth": 50, "stem": "small", "output_stride": 4}, 32, (2, 8, 8, 64)),
    ],
)
def test_resnet_output_shapes(kwargs, size, expected):
    backbone = ResNet(widths=SMALL, **kwargs)
    features = backbone(_images(size=size), training=False)
    assert tuple(features.shape) == expected
    assert backbone.output_channels == expected[-1]
    assert backbone.output_stride == size // expected[1]
    assert backbone.compute_output_shape((2, size, size, 3)) == expected


def test_resnet_dilation_layout_and_stage_ends():
    backbone = ResNet(34, output_stride=8, widths=(4, 8, 16, 32))
    assert backbone.stage_ends == [2, 6, 12, 15]
    starts = [0] + [end + 1 for end in backbone.stage_ends[:-1]]
    first = [backbone.blocks[i] for i in starts]
    assert [b.strides for b in first] == [1, 2, 1, 1]
    assert [b.dilation_rate for b in backbone.blocks] == (
        [1] * 7 + [2] * 6 + [4] * 3
    )
    assert [b.use_projection for b in first] == [False, True, True, True]


def test_resnet_call_is_stem_then_blocks():
    backbone = ResNet(18, output_stride=16, widths=SMALL)
    images = _images()
    x = backbone.stem(images, training=False)
    for block in backbone.blocks:
        x = block(x, training=False)
    np.testing.assert_allclose(x, backbone(images, training=False), atol=1e-6)


@pytest.mark.parametrize(
    "make_block, channels",
    [
        (lambda: BasicBlock(8, dilation_rate=2), 8),
        (lambda: BasicBlock(8, strides=2, use_projection=True), 4),
        (lambda: BottleneckBlock(4, dilation_rate=2, use_projection=True), 8),
        (lambda: BottleneckBlock(4, strides=2, use_projection=True), 16),
        (lambda: BottleneckBlock(2), 8),
    ],
)
@pytest.mark.parametrize("training", [False, True])
def test_block_is_relu_of_residual_plus_shortcut(
    make_block, channels, training
):
    block = make_block()
    x = np.random.default_rng(1).normal(size=(2, 8, 8, channels))
    x = x.astype("float32")
    output = block(x, training=training)
    residual = block.residual(x, training=training)
    shortcut = block.shortcut(x, training=training)
    assert shortcut.shape == output.shape
    np.testing.assert_allclose(
        output, np.maximum(residual + shortcut, 0.0), atol=1e-5
    )
    if not block.use_projection:
        np.testing.assert_array_equal(shortcut, x)


def test_identity_block_rejects_shape_change():
    with pytest.raises(ValueError):
        BasicBlock(8, strides=2)
    with pytest.raises(ValueError):
        BasicBlock(8)(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError):
        ResNet(18, output_stride=4)


@pytest.mark.parametrize(
    "make_backbone, num_convs",
    [
        (lambda: ResNet(18, widths=SMALL, conv=MarkedConv2D), 20),
        (lambda: ResNet(34, widths=SMALL, conv="tfmtl_test>MarkedConv2D"), 36),
        (lambda: ResNet(50, widths=SMALL, conv=MarkedConv2D), 53),
        (lambda: TAGResNet(8, conv=MarkedConv2D), 3),
        (lambda: VGG16(conv=MarkedConv2D), 15),
    ],
)
def test_custom_conv_is_used_everywhere(make_backbone, num_convs):
    backbone = make_backbone()
    backbone.build((1, 32, 32, 3))
    layers = backbone._flatten_layers(include_self=False, recursive=True)
    convs = [x for x in layers if isinstance(x, keras.layers.Conv2D)]
    assert len(convs) == num_convs
    assert all(type(x) is MarkedConv2D for x in convs)
    assert backbone.get_config()["conv"] == "tfmtl_test>MarkedConv2D"
    clone = backbone.__class__.from_config(backbone.get_config())
    assert clone.conv is MarkedConv2D


def test_custom_norm_and_synchronized_flag():
    backbone = ResNet(18, widths=SMALL, norm=MarkedNorm, norm_synchronized=True)
    backbone.build((1, 32, 32, 3))
    layers = backbone._flatten_layers(include_self=False, recursive=True)
    norms = [
        x for x in layers if isinstance(x, keras.layers.BatchNormalization)
    ]
    assert len(norms) == 20
    assert all(type(x) is MarkedNorm and x.synchronized for x in norms)


def test_unregistered_conv_cannot_be_serialised():
    class Unregistered(keras.layers.Conv2D):
        pass

    backbone = ResNet(18, widths=SMALL, conv=Unregistered)
    with pytest.raises(ValueError, match="register"):
        backbone.get_config()


def test_tag_resnet_matches_reference_trunk():
    trunk = TAGResNet()
    features = trunk(_images(size=64), training=False)
    assert tuple(features.shape) == (2, 14_400)
    assert _num_trainable(trunk) == 1_728 + 2 * 36_864 + 3 * 128 == 75_840
    # GradNorm's "last shared layer" is the block's second conv kernel.
    assert (
        trunk.trainable_weights[-3] is trunk.blocks[0].residual_layers[3].kernel
    )
    assert trunk.blocks[0].use_projection is False
    assert trunk.stage_ends == [0]


def test_vgg16_variants():
    images = _images(batch=1, size=32)
    vgg = VGG16()
    assert tuple(vgg(images, training=False).shape) == (1, 4, 4, 1024)
    assert vgg.stages is vgg.blocks and vgg.stage_ends == [0, 1, 2, 3, 4, 5]
    conv_params = sum(
        _conv(3, c_in, c_out) + c_out + _bn(c_out)
        for c_in, c_out in zip(
            [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512],
            [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
        )
    )
    fc_params = _conv(3, 512, 1024) + _conv(1, 1024, 1024) + 2 * 1024 * 3
    assert _num_trainable(vgg) == conv_params + fc_params

    fine = VGG16(per_conv_blocks=True)
    fine(images)
    fine.set_weights(vgg.get_weights())
    assert fine.stage_ends == [1, 3, 6, 9, 12, 14]
    np.testing.assert_allclose(
        fine(images, training=False), vgg(images, training=False), atol=1e-4
    )

    plain = VGG16(deeplab_largefov=False)
    assert tuple(plain(images).shape) == (1, 1, 1, 512)
    assert plain.output_stride == 32 and _num_trainable(plain) == conv_params


@pytest.mark.parametrize(
    "make_layer, size",
    [
        (lambda: BasicBlock(8, strides=2, use_projection=True), 8),
        (lambda: BottleneckBlock(2, dilation_rate=2, use_projection=True), 8),
        (lambda: ResNet(18, output_stride=8, widths=SMALL), 32),
        (lambda: ResNet(50, stem="small", widths=SMALL, conv=MarkedConv2D), 32),
        (lambda: TAGResNet(8), 32),
        (lambda: VGG16(per_conv_blocks=True), 32),
    ],
)
def test_config_round_trip(make_layer, size):
    layer = make_layer()
    channels = 3 if size == 32 else 4
    x = np.random.default_rng(2).uniform(size=(1, size, size, channels))
    _assert_config_round_trip(layer, x.astype("float32"))


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((32, 32, 3))
    features = ResNet(
        18, stem="small", widths=SMALL, conv=MarkedConv2D, output_stride=4
    )(inputs)
    depth = DenseHead(1, hidden_channels=4)(features)
    flat = TAGResNet(4)(inputs)
    logits = ClassifierHead(2, pooling=None)(flat)
    model = keras.Model(inputs, {"depth": depth, "attr": logits})
    images = _images()
    expected = model(images, training=False)

    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    actual = restored(images, training=False)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-5)
    (backbone,) = [x for x in restored.layers if isinstance(x, ResNet)]
    assert backbone.conv is MarkedConv2D


def test_mixed_precision_features():
    keras.mixed_precision.set_global_policy("mixed_float16")
    backbone = ResNet(18, stem="small", widths=SMALL)
    assert backbone(_images()).dtype == "float16"
    assert all(v.dtype == "float32" for v in backbone.weights)


def _same_shaped_kernels(layer, shape):
    return [w.numpy() for w in layer.weights if tuple(w.shape) == shape]


def test_same_shaped_kernels_start_different():
    # One unseeded Keras initializer shared by every conv gave all four
    # 3x3x64x64 kernels of a ResNet-18 identical values (max diff 0.0).
    resnet = ResNet()
    resnet(np.zeros((1, 32, 32, 3), "float32"))
    vgg = VGG16()
    vgg(np.zeros((1, 24, 24, 3), "float32"))
    for layer, shape in (
        (resnet, (3, 3, 64, 64)),
        (vgg, (3, 3, 512, 512)),
    ):
        kernels = _same_shaped_kernels(layer, shape)
        assert len(kernels) >= 2, (type(layer).__name__, len(kernels))
        for other in kernels[1:]:
            assert np.abs(kernels[0] - other).max() > 1e-3, type(layer)


def test_fresh_initializer_copies_only_unseeded_random_initializers():
    unseeded = keras.initializers.HeNormal()
    copy = fresh_initializer(unseeded)
    assert copy is not unseeded and isinstance(
        copy, keras.initializers.HeNormal
    )
    assert np.abs(np.array(copy((4, 4))) - np.array(unseeded((4, 4)))).max() > 0
    seeded = keras.initializers.HeNormal(seed=3)
    generator = keras.initializers.RandomNormal(
        0.0, 0.01, seed=keras.random.SeedGenerator(1)
    )
    zeros = keras.initializers.Zeros()
    for initializer in (seeded, generator, zeros):
        assert fresh_initializer(initializer) is initializer
