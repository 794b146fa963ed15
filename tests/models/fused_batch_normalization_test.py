"""FusedBatchNormalization: the Keras batch norm's numbers, one fused op.

The reference is the batch-norm definition (Ioffe and Szegedy 2015, eq. 1
and the moving averages of `keras.layers.BatchNormalization.call`),
written here in float64 numpy: y = gamma (x - mean) / sqrt(var + eps) + beta
with the biased batch variance over B, H, W, and
moving = momentum * moving + (1 - momentum) * batch statistic.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.models.layers import FusedBatchNormalization
from tfmtl.testing import run_layer_test


def _batch_norm64(x, gamma, beta, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var


def _layers(momentum=0.8, epsilon=1e-3):
    rng = np.random.default_rng(0)
    fused = FusedBatchNormalization(momentum=momentum, epsilon=epsilon)
    plain = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    for layer in (fused, plain):
        layer.build((None, 5, 5, 3))
    gamma, beta = rng.normal(size=3) + 1.0, rng.normal(size=3)
    for layer in (fused, plain):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return fused, plain, gamma, beta


def test_training_output_and_moving_statistics_match_float64():
    fused, plain, gamma, beta = _layers()
    rng = np.random.default_rng(1)
    moving_mean, moving_var = np.zeros(3), np.ones(3)
    for _ in range(3):
        # Ill-scaled channels: a mean of 50 next to a standard deviation 0.01.
        x = rng.normal(size=(4, 5, 5, 3)) * [1.0, 0.01, 3.0] + [0, 50, -2]
        x = x.astype(np.float32)
        expected, mean, var = _batch_norm64(x, gamma, beta, 1e-3)
        got = fused(x, training=True).numpy()
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)
        np.testing.assert_allclose(
            got, plain(x, training=True).numpy(), rtol=2e-4, atol=2e-4
        )
        moving_mean = 0.8 * moving_mean + 0.2 * mean
        moving_var = 0.8 * moving_var + 0.2 * var
    np.testing.assert_allclose(fused.moving_mean, moving_mean, rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance, moving_var, rtol=1e-4)
    np.testing.assert_allclose(
        fused.moving_variance, plain.moving_variance, rtol=1e-6
    )


def test_inference_uses_the_moving_statistics():
    fused, plain, gamma, beta = _layers()
    fused.moving_mean.assign([1.0, -2.0, 0.5])
    fused.moving_variance.assign([4.0, 0.25, 1.0])
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 3)).astype(np.float32)
    expected = (
        gamma
        * (x - [1.0, -2.0, 0.5])
        / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-3)
        + beta
    )
    np.testing.assert_allclose(fused(x, training=False), expected, atol=1e-5)


def test_gradients_match_the_keras_layer():
    fused, plain, _, _ = _layers()
    x = tf.constant(
        np.random.default_rng(3).normal(size=(4, 5, 5, 3)), tf.float32
    )
    weights = tf.constant(
        np.random.default_rng(4).normal(size=(4, 5, 5, 3)), tf.float32
    )
    grads = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 2 * weights)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_second_order_gradient_and_vectorised_jacobian():
    """Lookahead probes and parameter Gramians differentiate through it."""
    fused, plain, _, _ = _layers()
    x = tf.constant(
        np.random.default_rng(5).normal(size=(4, 5, 5, 3)), tf.float32
    )
    results = []
    for layer in (fused, plain):
        with tf.GradientTape(persistent=True) as outer:
            with tf.GradientTape() as inner:
                y = layer(x, training=True)
                losses = tf.stack([tf.reduce_sum(y**2), tf.reduce_sum(y**3)])
                total = tf.reduce_sum(losses)
            (g,) = inner.gradient(total, [layer.gamma])
            norm = tf.reduce_sum(g**2)
        second = outer.gradient(norm, layer.gamma)
        jacobian = outer.jacobian(
            losses, layer.gamma.value, experimental_use_pfor=True
        )
        results.append((second, jacobian))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-3)


def test_bfloat16_keeps_bfloat16_activations_and_float32_statistics():
    layer = FusedBatchNormalization(dtype="mixed_bfloat16")
    x = np.random.default_rng(6).normal(size=(4, 5, 5, 3)) * 2 + 1
    y = layer(tf.constant(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16
    assert layer.moving_mean.dtype == "float32"
    expected, _, _ = _batch_norm64(x, 1.0, 0.0, layer.epsilon)
    np.testing.assert_allclose(
        tf.cast(y, tf.float32), expected, rtol=3e-2, atol=3e-2
    )


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3, 5, 3)])
def test_other_ranks_fall_back_to_keras(shape):
    fused = FusedBatchNormalization(momentum=0.5)
    plain = keras.layers.BatchNormalization(momentum=0.5)
    x = np.random.default_rng(7).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(
        fused(x, training=True), plain(x, training=True), atol=1e-5
    )
    np.testing.assert_allclose(
        fused.moving_variance, plain.moving_variance, rtol=1e-6
    )


def test_layer_contract(tmp_path):
    x = np.random.default_rng(8).normal(size=(2, 4, 4, 3)).astype(np.float32)
    run_layer_test(
        FusedBatchNormalization,
        x,
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
        tmp_dir=tmp_path,
    )
