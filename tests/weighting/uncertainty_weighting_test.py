"""Uncertainty weighting: weights exp(-s) and the hand gradient w.r.t. s."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import UncertaintyWeighting


def test_weight_value_and_gradients_match_hand_computation():
    layer = UncertaintyWeighting()
    layer.build(2)
    s = np.array([0.3, -0.2], "float32")
    layer.log_variance.assign(s)
    losses = tf.Variable([1.5, 0.4])
    with tf.GradientTape() as tape:
        total = layer(losses, training=True)
    grad_s, grad_l = tape.gradient(total, [layer.log_variance, losses])
    np.testing.assert_allclose(layer.task_weights.numpy(), np.exp(-s))
    expected = np.sum(np.exp(-s) * [1.5, 0.4] + s)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-6)
    # d/ds (e^{-s} L + s) = 1 - e^{-s} L; d/dL = e^{-s}.
    np.testing.assert_allclose(
        grad_s.numpy(), 1.0 - np.exp(-s) * [1.5, 0.4], rtol=1e-6
    )
    np.testing.assert_allclose(grad_l.numpy(), np.exp(-s), rtol=1e-6)


def test_initial_value_and_trainable_state():
    layer = UncertaintyWeighting(initial_log_variance=-0.5)
    layer.build(3)
    assert [v.name for v in layer.trainable_variables] == ["log_variance"]
    np.testing.assert_allclose(layer.log_variance.numpy(), [-0.5] * 3)


def test_gradient_descent_on_s_reaches_log_loss():
    layer = UncertaintyWeighting()
    layer.build(2)
    losses = tf.constant([2.0, 0.5])
    for _ in range(300):
        with tf.GradientTape() as tape:
            total = layer(losses)
        grad = tape.gradient(total, layer.log_variance)
        layer.log_variance.assign_sub(0.1 * grad)
    np.testing.assert_allclose(
        layer.log_variance.numpy(), np.log([2.0, 0.5]), atol=1e-3
    )


def test_tag_colab_clamped_form():
    """Issue #15 item 19: google-research `tag/celeba/CelebA.ipynb`,
    `train_uncertainty_step` (and the PCGrad+UW `train_pcgrad_step`):
    u = clip(u, 0.01, 10); loss = sum L / exp(2 u) + u, u initialised to 1.
    Float64 reimplementation of the value and of d/du (zero outside the
    clip range), with u below, inside and above the range."""
    losses = np.array([0.7, 2.5, 0.1], np.float64)
    u = np.array([-3.0, 1.0, 12.0], np.float64)
    uw = UncertaintyWeighting(
        initial_log_variance=1.0, weight_exponent=2.0, clip=(0.01, 10.0)
    )
    uw.build(3)
    np.testing.assert_allclose(uw.log_variance.numpy(), [1.0, 1.0, 1.0])
    uw.log_variance.assign(u.astype(np.float32))
    with tf.GradientTape() as tape:
        value = uw(tf.constant(losses, tf.float32))
    grad = tape.gradient(value, uw.log_variance).numpy()
    c = np.clip(u, 0.01, 10.0)
    want = np.sum(losses / np.exp(2.0 * c) + c)
    inside = (u >= 0.01) & (u <= 10.0)
    want_grad = np.where(inside, 1.0 - 2.0 * losses * np.exp(-2.0 * c), 0.0)
    np.testing.assert_allclose(float(value), want, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)
    config = uw.get_config()
    assert config["clip"] == [0.01, 10.0] and config["weight_exponent"] == 2.0
    with pytest.raises(ValueError, match="lo < hi"):
        UncertaintyWeighting(clip=(1.0, 0.0))
