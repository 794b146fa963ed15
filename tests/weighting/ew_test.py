"""Equal weights: the sum of the losses."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import EW


def test_sum_of_losses_and_unit_gradients():
    layer = EW()
    layer.build(3)
    losses = tf.Variable([1.0, 2.0, 4.0])
    with tf.GradientTape() as tape:
        total = layer(losses)
    np.testing.assert_allclose(total.numpy(), 7.0)
    np.testing.assert_allclose(tape.gradient(total, losses).numpy(), [1, 1, 1])
    np.testing.assert_allclose(layer.task_weights.numpy(), [1, 1, 1])


def test_builds_itself_from_the_losses_shape():
    layer = EW()
    total = layer(tf.constant([1.0, 2.0]))
    assert layer.num_tasks == 2
    np.testing.assert_allclose(total.numpy(), 3.0)
