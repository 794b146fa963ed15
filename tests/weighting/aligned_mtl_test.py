"""Aligned-MTL: orthogonal hand cases and the SVD formula in numpy."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import AlignedMTL


def weights_for(jacobian):
    jacobian = np.asarray(jacobian, "float32")
    layer = AlignedMTL()
    layer.build(len(jacobian))
    layer(
        tf.ones([len(jacobian)]),
        gramian=tf.constant(jacobian @ jacobian.T),
        training=True,
    )
    return layer.task_weights.numpy()


def test_orthogonal_equal_norm_gradients_are_summed():
    jacobian = 2.0 * np.eye(3, 5)
    w = weights_for(jacobian)
    np.testing.assert_allclose(w, [1.0, 1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(jacobian.T @ w, [2, 2, 2, 0, 0], rtol=1e-5)


def test_orthogonal_gradients_rescaled_to_the_smallest_norm():
    jacobian = np.diag([1.0, 2.0, 4.0])
    w = weights_for(jacobian)
    np.testing.assert_allclose(jacobian.T @ w, [1.0, 1.0, 1.0], rtol=1e-5)


@pytest.mark.parametrize("num_tasks", [2, 3, 4])
def test_matches_svd_formula(num_tasks):
    rng = np.random.default_rng(num_tasks)
    jacobian = rng.normal(size=(num_tasks, 7)).astype("float32")
    u, s, vh = np.linalg.svd(jacobian.astype("float64"), full_matrices=False)
    expected = s.min() * vh.T @ u.T @ np.ones(num_tasks)
    w = weights_for(jacobian)
    np.testing.assert_allclose(jacobian.T @ w, expected, rtol=1e-3, atol=1e-4)


def test_rank_deficient_gramian_uses_the_nonzero_spectrum():
    # g3 = g1 + g2: rank 2, sigma_min is the smallest non-zero value.
    g = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    u, s, vh = np.linalg.svd(g)
    keep = s > 1e-6
    expected = s[keep].min() * vh[keep].T @ u[:, keep].T @ np.ones(3)
    w = weights_for(g)
    assert np.all(np.isfinite(w))
    np.testing.assert_allclose(g.T @ w, expected, rtol=1e-4, atol=1e-5)
