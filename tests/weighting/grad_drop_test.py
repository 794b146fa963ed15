"""GradDrop: sign purity and the per-coordinate masks."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import GradDrop


def make(**kwargs):
    layer = GradDrop(seed=0, **kwargs)
    layer.build(3)
    return layer


def test_agreeing_signs_are_kept():
    layer = make()
    grads = [[tf.constant([1.0, -2.0])], [tf.constant([3.0, -1.0])]]
    (combined,) = layer.transform_gradients(grads)
    np.testing.assert_allclose(combined.numpy(), [4.0, -3.0])


def test_conflicts_keep_one_sign_per_coordinate():
    layer = make()
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 2000)).astype("float32")
    (combined,) = layer.transform_gradients([[tf.constant(x)] for x in g])
    combined = combined.numpy()
    positive = np.where(g > 0, g, 0).sum(0)
    negative = np.where(g < 0, g, 0).sum(0)
    assert np.all(
        np.isclose(combined, positive, atol=1e-6)
        | np.isclose(combined, negative, atol=1e-6)
    )
    # P(keep positive) = purity: check on coordinates with purity ~ 1/2.
    purity = 0.5 * (1 + g.sum(0) / np.abs(g).sum(0))
    kept_positive = np.isclose(combined, positive, atol=1e-6) & (positive > 0)
    expected = purity[positive > 0].mean()
    assert abs(kept_positive[positive > 0].mean() - expected) < 0.05


def test_leak_one_is_the_plain_sum_and_none_passes_through():
    layer = make(leak=1.0)
    grads = [[tf.constant([1.0, -2.0]), None], [tf.constant([-3.0, 1.0]), None]]
    combined = layer.transform_gradients(grads)
    np.testing.assert_allclose(combined[0].numpy(), [-2.0, -1.0])
    assert combined[1] is None


def test_call_is_the_sum_of_losses():
    layer = make()
    total = layer(tf.constant([1.0, 2.0, 3.0]), training=True)
    np.testing.assert_allclose(total.numpy(), 6.0)
    assert layer.needs_per_task_gradients
