"""The simplex solver against an exact enumeration of faces (K = 7)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting._solvers import min_norm_coefficients, nonnegative_qp


def exact_min_norm(gramian):
    """min a^T G a over the simplex, by solving the KKT system on every face
    and keeping the best feasible face optimum."""
    k, best = len(gramian), np.inf
    for size in range(1, k + 1):
        for face in itertools.combinations(range(k), size):
            face = list(face)
            system = np.zeros((size + 1, size + 1))
            system[:size, :size] = gramian[np.ix_(face, face)]
            system[:size, size] = system[size, :size] = 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            a = np.linalg.lstsq(system, rhs, rcond=None)[0][:size]
            if (a >= -1e-12).all():
                best = min(best, a @ gramian[np.ix_(face, face)] @ a)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_min_norm_matches_enumeration_of_faces(seed):
    rng = np.random.default_rng(seed)
    dim = (3, 7, 40)[seed % 3]
    jacobian = rng.normal(size=(7, dim))
    if seed % 2:  # nearly aligned gradients: an ill-conditioned Gramian
        jacobian += 4.0 * rng.normal(size=(1, dim))
    gramian = jacobian @ jacobian.T
    gramian /= np.trace(gramian)
    a = min_norm_coefficients(tf.constant(gramian, tf.float32)).numpy()
    assert a.min() >= 0.0 and a.sum() == pytest.approx(1.0, abs=1e-5)
    value = a.astype(np.float64) @ gramian @ a.astype(np.float64)
    assert value - exact_min_norm(gramian) <= 1e-5


def exact_nonnegative_qp(p, q):
    """min_{x >= 0} x^T P x / 2 + q^T x by the KKT system on every support."""
    k, best, argbest = len(q), np.inf, None
    for size in range(0, k + 1):
        for face in itertools.combinations(range(k), size):
            x = np.zeros(k)
            if face:
                face = list(face)
                x[face] = np.linalg.lstsq(
                    p[np.ix_(face, face)], -q[face], rcond=None
                )[0]
            if (x >= -1e-12).all():
                value = 0.5 * x @ p @ x + q @ x
                if value < best:
                    best, argbest = value, x
    return best, argbest


@pytest.mark.parametrize(
    "k, dim", [(2, 3), (4, 2), (5, 8), (9, 4), (10, 3), (16, 40)]
)
def test_nonnegative_qp_is_a_certified_minimiser(k, dim):
    rng = np.random.default_rng(k * dim)
    jacobian = rng.normal(size=(k, dim))
    p = jacobian @ jacobian.T
    q = -p @ rng.normal(size=k)  # in the range of P: bounded below
    x = nonnegative_qp(tf.constant(p), tf.constant(q))
    assert x.dtype == tf.float64 and x.shape == (k,)
    x = x.numpy()
    assert x.min() >= 0.0
    scale = np.abs(np.diag(p)).max()
    residual = np.abs(np.minimum(x, p @ x + q)).max() / scale
    assert residual <= 1e-9
    if k <= 9:
        best, _ = exact_nonnegative_qp(p, q)
        assert 0.5 * x @ p @ x + q @ x - best <= 1e-10 * scale


def test_min_norm_is_float64_and_exact_on_the_issue_example():
    # Issue 13: the float32 FISTA stopped at 0.002159 here.
    jacobian = np.array([[0.3, 0.2, 1.0], [-0.3, -0.1, -0.9], [0.3, 0.2, 0.9]])
    gramian = jacobian @ jacobian.T
    a = min_norm_coefficients(tf.constant(gramian, tf.float32))
    assert a.dtype == tf.float64
    d = jacobian.T @ a.numpy()
    assert d @ d == pytest.approx(exact_min_norm(gramian), rel=1e-5)
    assert d @ d == pytest.approx(0.002020, abs=1e-6)
