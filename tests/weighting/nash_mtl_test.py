"""Nash-MTL: the bargaining optimality condition G a = 1 / a."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import NashMTL


def weights_for(gramian, layer=None):
    if layer is None:
        layer = NashMTL()
        layer.build(len(gramian))
    layer(
        tf.ones([len(gramian)]),
        gramian=tf.constant(gramian, tf.float32),
        training=True,
    )
    return layer.task_weights.numpy()


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_optimality_condition(num_tasks):
    rng = np.random.default_rng(num_tasks)
    jacobian = rng.normal(size=(num_tasks, 8)) * rng.uniform(
        0.1, 10.0, size=(num_tasks, 1)
    )
    gramian = jacobian @ jacobian.T
    gramian /= np.linalg.norm(gramian)  # the reference's normalisation
    a = weights_for(gramian)
    assert np.all(a > 0)
    np.testing.assert_allclose(gramian @ a, 1.0 / a, rtol=1e-3)


def test_raw_gramian_orthogonal_hand_case():
    # The paper's problem on the raw Gramian: a_i = 1 / sqrt(G_ii).
    np.testing.assert_allclose(
        weights_for(np.diag([1.0, 4.0])), [1.0, 0.5], rtol=1e-6
    )
    np.testing.assert_allclose(
        weights_for(np.diag([100.0, 400.0])), [0.1, 0.05], rtol=1e-6
    )


def test_issue_example_direction_is_scale_invariant():
    # Issue 13: g1 = (1, 0), g2 = (0, 2) gives d = (1, 1), and again with
    # both gradients x10 (the Frobenius-normalised solve gave 2.03, 20.3).
    for scale in (1.0, 10.0):
        jacobian = scale * np.array([[1.0, 0.0], [0.0, 2.0]])
        d = jacobian.T @ weights_for(jacobian @ jacobian.T)
        np.testing.assert_allclose(d, [1.0, 1.0], rtol=1e-6)


def test_max_norm_caps_the_direction():
    layer = NashMTL(max_norm=0.5)
    layer.build(2)
    gramian = np.diag([1.0, 4.0])
    a = weights_for(gramian, layer)
    assert np.sqrt(a @ gramian @ a) == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_allclose(a / a[0], [1.0, 0.5], rtol=1e-6)


def test_update_every_two_calls_reuses_the_weights():
    layer = NashMTL(update_weights_every=2)
    layer.build(2)
    first = weights_for(np.diag([1.0, 4.0]), layer)
    second = weights_for(np.diag([4.0, 1.0]), layer)
    third = weights_for(np.diag([4.0, 1.0]), layer)
    np.testing.assert_allclose(second, first)
    np.testing.assert_allclose(third, first[::-1], rtol=1e-5)
