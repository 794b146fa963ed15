"""RLW: softmax of seeded standard-normal draws, one per call."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import RLW


def test_weights_are_the_seeded_softmax_draws():
    layer = RLW(seed=5)
    layer.build(4)
    draws = []
    for step in range(3):
        total = layer(tf.constant([1.0, 2.0, 3.0, 4.0]), training=True)
        sample = tf.random.stateless_normal([4], seed=[5, step])
        expected = tf.nn.softmax(sample).numpy()
        np.testing.assert_allclose(layer.task_weights.numpy(), expected)
        np.testing.assert_allclose(total.numpy(), expected @ [1, 2, 3, 4])
        draws.append(expected)
    assert not np.allclose(draws[0], draws[1])


def test_same_seed_same_sequence():
    a, b = RLW(seed=1), RLW(seed=1)
    for layer in (a, b):
        layer.build(3)
        layer(tf.ones([3]), training=True)
    np.testing.assert_array_equal(
        a.task_weights.numpy(), b.task_weights.numpy()
    )
