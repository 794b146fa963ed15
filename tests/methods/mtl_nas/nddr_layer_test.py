"""NDDRFusion / NDDRLayer: identity-block init, fusion, serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.mtl_nas import NDDRFusion, NDDRLayer


def _features(seed, shape=(2, 4, 4, 3)):
    return tf.random.stateless_normal(shape, seed=(seed, 0))


def test_init_weights_make_identity_blocks():
    layer = NDDRLayer(2, init_weights=(0.9, 0.1))
    layer([_features(0), _features(1)])
    kernel = layer.fusions[0].kernel.numpy()[0, 0]  # [2C, C], own slice first
    np.testing.assert_allclose(kernel[:3], 0.9 * np.eye(3), atol=1e-7)
    np.testing.assert_allclose(kernel[3:], 0.1 * np.eye(3), atol=1e-7)


def test_three_inputs_share_the_other_weight():
    fusion = NDDRFusion(3, init_weights=(0.5, 0.5))
    fusion([_features(0)] * 3)
    kernel = fusion.kernel.numpy()[0, 0]
    np.testing.assert_allclose(kernel[3:6], 0.25 * np.eye(3), atol=1e-7)
    np.testing.assert_allclose(kernel[6:], 0.25 * np.eye(3), atol=1e-7)


def test_init_one_zero_ignores_the_other_task():
    layer = NDDRLayer(2, init_weights=(1.0, 0.0))
    a, b = _features(0), _features(1)
    for training in (False, True):
        out_a, out_b = layer([a, b], training=training)
        other_a, other_b = layer([a, 5.0 * b + 1.0], training=training)
        np.testing.assert_allclose(out_a, other_a, atol=1e-6)
        assert not np.allclose(out_b, other_b)
    # In inference the fresh BN is x / sqrt(1 + eps): own features, ReLU'd.
    out_a, _ = NDDRLayer(2, init_weights=(1.0, 0.0))([a, b], training=False)
    np.testing.assert_allclose(
        out_a, np.maximum(a, 0) / np.sqrt(1 + 1e-3), atol=1e-5
    )


def test_default_init_mixes_tasks_and_output_is_relu():
    layer = NDDRLayer(2)
    a, b = _features(0), _features(1)
    out_a, _ = layer([a, b], training=False)
    expected = np.maximum(0.9 * a + 0.1 * b, 0) / np.sqrt(1 + 1e-3)
    np.testing.assert_allclose(out_a, expected, atol=1e-5)


def test_random_init_and_wrong_input_count():
    layer = NDDRLayer(3, init_weights=None)
    outs = layer([_features(i) for i in range(3)])
    assert len(outs) == 3 and outs[2].shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="expects 3 inputs"):
        layer([_features(0)] * 2)


def test_config_round_trip():
    layer = NDDRLayer(2, init_weights=(0.8, 0.2), norm_momentum=0.9)
    clone = NDDRLayer.from_config(layer.get_config())
    assert clone.init_weights == (0.8, 0.2) and clone.norm_momentum == 0.9
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(NDDRFusion(2))
    )
    assert isinstance(restored, NDDRFusion) and restored.num_inputs == 2


def test_gradients_reach_kernel_and_both_inputs():
    layer = NDDRLayer(2)
    a, b = tf.Variable(_features(0)), tf.Variable(_features(1))
    with tf.GradientTape() as tape:
        out_a, _ = layer([a, b], training=True)
        loss = tf.reduce_sum(out_a**2)
    grads = tape.gradient(loss, [a, b, layer.fusions[0].kernel])
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
