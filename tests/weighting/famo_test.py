"""FAMO: weights from the logits and the logit update, by hand."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import FAMO


def test_first_two_calls_by_hand():
    layer = FAMO(learning_rate=0.025, gamma=1e-3)
    layer.build(2)
    layer(tf.constant([1.0, 2.0]), training=True)
    # z uniform: w proportional to 1 / L.
    np.testing.assert_allclose(layer.task_weights.numpy(), [2 / 3, 1 / 3])
    np.testing.assert_allclose(layer.logits.numpy(), [0.0, 0.0])

    now = np.array([0.5, 1.8])
    total = layer(tf.constant(now, tf.float32), training=True)
    delta = np.log([1.0, 2.0]) - np.log(now)
    z = np.array([0.5, 0.5])
    grad = z * (delta - z @ delta)
    # First Adam step from zero moments: -lr * g / (|g| + eps).
    logits = -0.025 * grad / (np.abs(grad) + 1e-8)
    np.testing.assert_allclose(layer.logits.numpy(), logits, rtol=1e-5)
    z = np.exp(logits) / np.exp(logits).sum()
    weights = z / now / np.sum(z / now)
    np.testing.assert_allclose(layer.task_weights.numpy(), weights, rtol=1e-5)
    np.testing.assert_allclose(total.numpy(), weights @ now, rtol=1e-5)


def test_slow_task_gains_weight():
    layer = FAMO()
    layer.build(2)
    losses = np.array([1.0, 1.0])
    for _ in range(30):
        layer(tf.constant(losses, tf.float32), training=True)
        losses = losses * np.array([0.9, 1.0])  # task 0 improves, 1 stalls
    z = tf.nn.softmax(layer.logits).numpy()
    assert z[1] > z[0]
