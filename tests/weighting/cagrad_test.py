"""CAGrad: c = 0 is the mean gradient; numpy/SciPy gradient-space check."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import optimize

from tfmtl.weighting import CAGrad


def weights_for(jacobian, **kwargs):
    jacobian = np.asarray(jacobian, "float32")
    layer = CAGrad(**kwargs)
    layer.build(len(jacobian))
    layer(
        tf.ones([len(jacobian)]),
        gramian=tf.constant(jacobian @ jacobian.T),
        training=True,
    )
    return layer.task_weights.numpy()


def numpy_cagrad(jacobian, c):
    """Gradient-space CAGrad (Liu et al. Algorithm 1), SLSQP as the paper."""
    k = len(jacobian)
    g0 = jacobian.mean(0)
    radius = c * np.linalg.norm(g0)

    def objective(w):
        gw = jacobian.T @ w
        return gw @ g0 + radius * np.sqrt(gw @ gw + 1e-12)

    result = optimize.minimize(
        objective,
        np.ones(k) / k,
        bounds=[(0.0, 1.0)] * k,
        constraints={"type": "eq", "fun": lambda w: w.sum() - 1.0},
        method="SLSQP",
        options={"ftol": 1e-13, "maxiter": 1000},
    )
    gw = jacobian.T @ result.x
    return (g0 + radius / np.linalg.norm(gw) * gw) / (1.0 + c**2)


def test_c_zero_is_the_mean_gradient():
    rng = np.random.default_rng(0)
    jacobian = rng.normal(size=(3, 5))
    np.testing.assert_allclose(
        weights_for(jacobian, c=0.0), [1 / 3] * 3, rtol=1e-6
    )


@pytest.mark.parametrize("seed", range(4))
def test_matches_gradient_space_formula(seed):
    rng = np.random.default_rng(seed)
    jacobian = rng.normal(size=(3, 6)) * rng.uniform(0.3, 3.0, size=(3, 1))
    w = weights_for(jacobian, c=0.4)
    expected = numpy_cagrad(jacobian.astype("float32").astype("float64"), 0.4)
    combined = jacobian.astype("float32").T @ w
    np.testing.assert_allclose(
        combined, expected, atol=2e-3 * np.abs(expected).max()
    )


def test_rescale_options():
    jacobian = np.array([[1.0, 0.0], [0.0, 1.0]])
    plain = weights_for(jacobian, c=0.5, rescale=0)
    np.testing.assert_allclose(
        weights_for(jacobian, c=0.5, rescale=1), plain / 1.25, rtol=1e-5
    )
    np.testing.assert_allclose(
        weights_for(jacobian, c=0.5, rescale=2), plain / 1.5, rtol=1e-5
    )
    # Symmetric problem: g_w is the mean, lambda = c, weights (1 + c) / K.
    np.testing.assert_allclose(plain, [0.75, 0.75], rtol=1e-4)
