"""Tests for tfmtl.models.heads."""

import json

import keras
import numpy as np
import pytest

from tests.models.initializer_checks import assert_torch_default_conv_init
from tfmtl.models.heads import ASPPHead, ClassifierHead, DenseHead


def _features(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _num_trainable(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


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


def test_classifier_head_average_pooling_matches_numpy():
    x = _features((3, 4, 5, 6))
    head = ClassifierHead(7)
    logits = head(x)
    kernel, bias = (np.asarray(w) for w in head.logits.weights)
    expected = x.mean(axis=(1, 2)) @ kernel + bias
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert head.dense is False


def test_classifier_head_hidden_layers_and_flatten_match_numpy():
    x = _features((2, 3, 3, 4))
    head = ClassifierHead(
        5, hidden_units=(8, 6), dropout=0.3, pooling="flatten"
    )
    logits = head(x, training=False)
    h = x.reshape(2, -1)
    for layer in head.hidden_layers:
        kernel, bias = (np.asarray(w) for w in layer.weights)
        h = np.maximum(h @ kernel + bias, 0.0)
    kernel, bias = (np.asarray(w) for w in head.logits.weights)
    np.testing.assert_allclose(logits, h @ kernel + bias, rtol=1e-5, atol=1e-5)
    # Dropout is active in training mode only.
    assert not np.allclose(head(x, training=True), logits)


def test_classifier_head_on_flat_features():
    head = ClassifierHead(2, hidden_units=4, pooling=None)
    assert tuple(head(_features((5, 10))).shape) == (5, 2)
    assert _num_trainable(head) == (10 * 4 + 4) + (4 * 2 + 2)
    with pytest.raises(ValueError):
        ClassifierHead(2, pooling="max")


def test_dense_head_without_hidden_layers_is_a_1x1_conv():
    x = _features((2, 4, 4, 6))
    head = DenseHead(3, num_layers=0)
    head.build(x.shape)
    kernel, bias = (np.asarray(w) for w in head.weights)
    expected = np.einsum("bhwc,co->bhwo", x, kernel[0, 0]) + bias
    np.testing.assert_allclose(head(x), expected, rtol=1e-5, atol=1e-5)


def test_dense_head_shapes_and_parameters():
    head = DenseHead(3, hidden_channels=8, num_layers=2)
    assert tuple(head(_features((2, 5, 6, 4))).shape) == (2, 5, 6, 3)
    expected = (9 * 4 * 8 + 2 * 8) + (9 * 8 * 8 + 2 * 8) + (8 * 3 + 3)
    assert _num_trainable(head) == expected
    assert head.dense is True


@pytest.mark.parametrize("rates", [(1,), (1, 2, 3)])
def test_aspp_head_parameters(rates):
    c_in, hidden, c_out = 6, 8, 5
    head = ASPPHead(c_out, rates=rates, hidden_channels=hidden)
    head.build((None, None, None, c_in))
    per_branch = (
        (9 * c_in * hidden + hidden)
        + (hidden * hidden + hidden)
        + (hidden * c_out + c_out)
    )
    assert _num_trainable(head) == len(rates) * per_branch
    assert [b[0].dilation_rate for b in head.branches] == [
        (r, r) for r in rates
    ]


def test_aspp_head_sums_its_branches():
    x = _features((2, 6, 6, 4))
    head = ASPPHead(3, rates=(1, 2, 4), hidden_channels=8, dropout=0.5)
    output = head(x, training=False)
    branches = [head.branch(i, x, training=False) for i in range(3)]
    np.testing.assert_allclose(output, sum(branches), rtol=1e-5, atol=1e-5)
    assert tuple(output.shape) == (2, 6, 6, 3) and head.dense is True


def test_aspp_default_head_is_adashare_sized():
    head = ASPPHead(40)
    head.build((None, None, None, 512))
    branch = (9 * 512 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 40 + 40)
    assert _num_trainable(head) == 4 * branch == 23_240_864


@pytest.mark.parametrize(
    "make_head",
    [
        lambda: ClassifierHead(3, hidden_units=4, dropout=0.5),
        lambda: DenseHead(2, hidden_channels=4, num_layers=2),
        lambda: ASPPHead(2, rates=(1, 3), hidden_channels=4),
    ],
)
def test_heads_emit_float32_under_mixed_precision(make_head):
    keras.mixed_precision.set_global_policy("mixed_float16")
    head = make_head()
    output = head(_features((2, 4, 4, 6)), training=True)
    assert output.dtype == "float32"


@pytest.mark.parametrize(
    "make_head",
    [
        lambda: ClassifierHead(3, hidden_units=(4, 5), pooling="flatten"),
        lambda: DenseHead(2, hidden_channels=4, num_layers=2),
        lambda: ASPPHead(2, rates=(1, 3), hidden_channels=4),
    ],
)
def test_config_round_trip(make_head):
    _assert_config_round_trip(make_head(), _features((2, 4, 4, 6)))


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((8, 8, 6))
    outputs = {
        "seg": ASPPHead(4, rates=(1, 2), hidden_channels=4)(inputs),
        "depth": DenseHead(1, hidden_channels=4)(inputs),
        "cls": ClassifierHead(3, hidden_units=5)(inputs),
    }
    model = keras.Model(inputs, outputs)
    x = _features((2, 8, 8, 6))
    expected = model(x, training=False)
    path = str(tmp_path / "heads.keras")
    model.save(path)
    actual = keras.saving.load_model(path)(x, training=False)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-5)


def test_aspp_branches_start_from_different_weights():
    # One shared unseeded Keras initializer repeats its draw for every
    # layer of the same shape; each convolution must get its own.
    head = ASPPHead(3, rates=(1, 2, 4), hidden_channels=8)
    head.build((None, 8, 8, 16))
    for name in ("conv1", "conv2", "conv3"):
        kernels = [
            np.asarray(w) for w in head.weights if f"{name}/kernel" in w.path
        ]
        assert len(kernels) == 3
        assert not np.allclose(kernels[0], kernels[1])
        assert not np.allclose(kernels[1], kernels[2])


def test_aspp_torch_default_init_uses_each_convolution_fan_in():
    """AdaShare's heads (models/base.py, Classification_Module) keep
    PyTorch's Conv2d default: kernel and bias U(-1/sqrt(fan_in), ...)."""
    from tfmtl.models.torch_default_initializer import TorchDefault

    channels, hidden = 64, 256
    head = ASPPHead(
        5,
        rates=(1, 2),
        hidden_channels=hidden,
        kernel_initializer=TorchDefault(),
        bias_initializer=TorchDefault(),
    )
    head.build((None, 8, 8, channels))
    fan_ins = {"conv1": 9 * channels, "conv2": hidden, "conv3": hidden}
    assert_torch_default_conv_init(
        head, fan_ins, std_min_size=10_001, std_rtol=0.03
    )
    config = head.get_config()
    expected = {"fan_in": None, "seed": None}
    assert config["bias_initializer"]["config"] == expected
    _assert_config_round_trip(head, _features((2, 4, 4, channels)))
