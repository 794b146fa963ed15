"""CAGrad: c = 0 is the mean gradient; numpy/SciPy gradient-space check."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import optimize

from tfmtl.weighting import CAGrad
from tfmtl.weighting.cagrad import cagrad_coefficients
from tfmtl.weighting.cagrad_solver import enumerated_cagrad_dual


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


def families(k, rng):
    """``(name, J)``: random, nearly conflicting (rows close to +-one
    direction: cond(G) ~ 1e6), ill-conditioned (cond(G) = 1e6) and low-rank
    (rank K // 3 around a shared mean, so 0 stays out of the hull) Jacobians
    of K tasks."""
    dim = 2 * k + 3
    yield "random", rng.normal(size=(k, dim))
    signs = np.where(np.arange(k) % 2, -1.0, 1.0)[:, None]
    conflicting = signs * rng.normal(size=(1, dim))
    yield "conflicting", conflicting + 1e-3 * rng.normal(size=(k, dim))
    left = np.linalg.qr(rng.normal(size=(k, k)))[0]
    right = np.linalg.qr(rng.normal(size=(dim, k)))[0]
    yield "ill", left @ np.diag(np.logspace(0.0, -3.0, k)) @ right.T
    rank = max(1, k // 3)
    low = rng.normal(size=(k, rank)) @ rng.normal(size=(rank, dim))
    yield "low-rank", low + 2.0 * rng.normal(size=(1, dim))


def slsqp_dual(gramian, c):
    """Reference minimiser of the dual on ``G / trace(G)`` (SLSQP from
    several starts, as the original code, then the best; float64)."""
    k = len(gramian)
    g = gramian / np.trace(gramian)
    a = g.mean(1)
    radius = c * np.sqrt(max(a.mean(), 0.0))

    def objective(w):
        return w @ a + radius * np.sqrt(max(w @ g @ w, 0.0) + 1e-30)

    best = None
    for start in [np.ones(k) / k, *np.eye(k)]:
        result = optimize.minimize(
            objective,
            start,
            bounds=[(0.0, 1.0)] * k,
            constraints={"type": "eq", "fun": lambda w: w.sum() - 1.0},
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 2000},
        )
        if best is None or result.fun < best.fun:
            best = result
    return np.clip(best.x, 0.0, None) / np.clip(best.x, 0.0, None).sum()


def dual_value(gramian, c, w):
    g = gramian / np.trace(gramian)
    a = g.mean(1)
    return w @ a + c * np.sqrt(a.mean()) * np.sqrt(max(w @ g @ w, 0.0))


@pytest.mark.parametrize("k", [2, 3, 5, 9])
@pytest.mark.parametrize("c", [0.0, 0.4, 0.5, 1.0])
def test_exact_solve_is_certified_against_slsqp(k, c):
    """Primal-dual certificate, independent of the argmin (SLSQP's w is only
    ~sqrt(ftol) accurate where the dual is flat, e.g. nearly conflicting
    gradients at c = 1): the returned ``d`` is primal feasible,
    ``||d - g0|| <= c ||g0||``, and its primal value ``min_i g_i . d`` is at
    least the dual value of SLSQP's ``w`` (an upper bound on the optimum by
    weak duality) less 1e-9 trace(G); the dual is Cranial-XIX/CAGrad
    ``nyuv2/utils.py`` ``cagrad`` (objfn), in float64."""
    rng = np.random.default_rng(10 * k + int(10 * c))
    for name, jacobian in families(k, rng):
        gramian = jacobian @ jacobian.T
        trace = np.trace(gramian)
        coefficients = cagrad_coefficients(tf.constant(gramian), c, 0)
        assert coefficients.dtype == tf.float64
        d = jacobian.T @ coefficients.numpy()
        g0 = jacobian.mean(0)
        radius = c * np.linalg.norm(g0)
        assert np.linalg.norm(d - g0) <= radius * (1 + 1e-9) + 1e-12, name
        w_ref = slsqp_dual(gramian, c)
        primal = (jacobian @ d).min() / trace
        assert primal >= dual_value(gramian, c, w_ref) - 1e-9, name
        g = gramian / trace
        a = g.mean(1)
        w, certified = enumerated_cagrad_dual(
            tf.constant(g),
            tf.constant(a),
            tf.constant(c * np.sqrt(a.mean())),
            1e-12,
        )
        assert bool(certified), name
        w = w.numpy()
        assert w.min() >= 0.0 and w.sum() == pytest.approx(1.0, abs=1e-12)
