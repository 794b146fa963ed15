"""Tests for tfmtl.models.torch_default_initializer.

The reference definition is PyTorch's `_ConvNd.reset_parameters`
(torch/nn/modules/conv.py): weight `kaiming_uniform_(a=sqrt(5))`, i.e.
U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)),
and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw.
The bound is recomputed here in float64 from that definition.
"""

import json
import math

import keras
import numpy as np
import pytest

from tfmtl.models.torch_default_initializer import TorchDefault


def _torch_bound(fan_in):
    a = math.sqrt(5.0)
    gain = math.sqrt(2.0 / (1.0 + a * a))
    return gain * math.sqrt(3.0 / fan_in)


def _assert_uniform(values, bound):
    """Checks range, std and the KS distance to U(-bound, bound)."""
    x = np.sort(np.asarray(values, np.float64).ravel())
    n = x.size
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    assert np.abs(x).max() >= 0.99 * bound  # fills the range
    np.testing.assert_allclose(x.std(), bound / math.sqrt(3), rtol=0.02)
    assert abs(x.mean()) < 5 * bound / math.sqrt(3 * n)
    cdf = (x + bound) / (2 * bound)
    ks = max(
        np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)
    )
    assert ks < 1.63 / math.sqrt(n)  # 1 % level


@pytest.mark.parametrize("shape", [(3, 3, 256, 256), (1, 1, 1024, 40)])
def test_kernel_matches_the_torch_bound(shape):
    fan_in = math.prod(shape[:-1])
    kernel = TorchDefault()(shape)
    assert kernel.dtype == "float32"
    _assert_uniform(kernel, _torch_bound(fan_in))
    # The bound equals 1 / sqrt(fan_in); he_normal would be ~2.4x its std.
    np.testing.assert_allclose(_torch_bound(fan_in), 1 / math.sqrt(fan_in))


def test_bias_uses_the_given_fan_in():
    fan_in = 3 * 3 * 512
    bias = TorchDefault().with_fan_in(fan_in)((200_000,))
    _assert_uniform(bias, 1 / math.sqrt(fan_in))


def test_bias_without_fan_in_is_an_error():
    with pytest.raises(ValueError, match="needs fan_in"):
        TorchDefault()((8,))


@pytest.mark.parametrize(
    "kwargs", [{"fan_in": 0}, {"fan_in": 2.5}, {"seed": "x"}, {"fan_in": True}]
)
def test_bad_arguments_are_errors(kwargs):
    with pytest.raises(ValueError):
        TorchDefault(**kwargs)


def test_unseeded_draws_differ_and_seeded_draws_repeat():
    init = TorchDefault()
    assert not np.allclose(init((4, 4, 8, 8)), init((4, 4, 8, 8)))
    seeded = TorchDefault(seed=3)
    np.testing.assert_array_equal(seeded((4, 4, 8, 8)), seeded((4, 4, 8, 8)))
    assert seeded.with_fan_in(7).get_config() == {"fan_in": 7, "seed": 3}


def test_config_round_trip():
    init = TorchDefault(fan_in=12, seed=5)
    config = keras.initializers.serialize(init)
    clone = keras.initializers.deserialize(json.loads(json.dumps(config)))
    assert isinstance(clone, TorchDefault)
    assert clone.get_config() == {"fan_in": 12, "seed": 5}
    np.testing.assert_array_equal(clone((6,)), init((6,)))


def test_conv_layer_uses_it():
    layer = keras.layers.Conv2D(32, 3, kernel_initializer=TorchDefault())
    layer.build((None, 8, 8, 64))
    bound = 1 / math.sqrt(3 * 3 * 64)
    assert np.abs(layer.kernel).max() <= bound * (1 + 1e-6)
    np.testing.assert_allclose(
        np.std(layer.kernel), bound / math.sqrt(3), rtol=0.05
    )


def test_unseeded_draw_works_while_tracing():
    import tensorflow as tf

    init = TorchDefault()

    @tf.function
    def draw():
        return init((3, 3, 4, 8)), init((3, 3, 4, 8))

    first, second = draw()
    assert np.abs(first).max() <= 1 / math.sqrt(36) * (1 + 1e-6)
    assert not np.allclose(first, second)
