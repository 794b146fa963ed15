"""DWA: weights from a hand-built loss history."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import DWA


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def test_weights_follow_the_epoch_loss_ratios():
    layer = DWA(temperature=2.0, epoch_length=2)
    layer.build(2)
    history = [(1, 2), (3, 4), (1, 1), (3, 1), (5, 5), (7, 9), (1, 1)]
    weights = []
    for losses in history:
        layer(tf.constant(losses, tf.float32), training=True)
        weights.append(layer.task_weights.numpy())
    # Epochs 0 and 1 (calls 0-3): weights 1.
    np.testing.assert_allclose(weights[:4], np.ones((4, 2)))
    # Epoch 2: means (2, 3) then (2, 1), ratios (1, 1/3).
    expected = 2 * softmax(np.array([1.0, 1 / 3]) / 2.0)
    np.testing.assert_allclose(weights[4], expected, rtol=1e-5)
    np.testing.assert_allclose(weights[5], expected, rtol=1e-5)
    # Epoch 3: means (2, 1) then (6, 7), ratios (3, 7).
    expected = 2 * softmax(np.array([3.0, 7.0]) / 2.0)
    np.testing.assert_allclose(weights[6], expected, rtol=1e-5)


def test_returned_value_and_frozen_evaluation():
    layer = DWA(epoch_length=1)
    layer.build(3)
    for losses in ([1.0, 1.0, 1.0], [2.0, 1.0, 0.5]):
        layer(tf.constant(losses), training=True)
    before = [v.numpy().copy() for v in layer.non_trainable_variables]
    total = layer(tf.constant([2.0, 2.0, 2.0]), training=False)
    after = [v.numpy() for v in layer.non_trainable_variables]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    weights = 3 * softmax(np.array([2.0, 1.0, 0.5]) / 2.0)
    np.testing.assert_allclose(total.numpy(), 2.0 * weights.sum(), rtol=1e-5)
