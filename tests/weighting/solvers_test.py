"""The simplex and nonnegative-QP solvers against exact enumerations, and
the batched QP against one-at-a-time solves and the KKT conditions."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting._solvers import (
    min_norm_coefficients,
    nonnegative_qp,
    nonnegative_qp_batch,
)


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


def adversarial_gramians(k, rng):
    """``(name, G)``: random, ill-conditioned (cond 1e6) and nearly
    conflicting (rows close to +-one direction) Gramians of K gradients."""
    dim = 2 * k + 3
    random = rng.normal(size=(k, dim))
    left = np.linalg.qr(rng.normal(size=(k, k)))[0]
    right = np.linalg.qr(rng.normal(size=(dim, k)))[0]
    ill = left @ np.diag(np.logspace(0.0, -3.0, k)) @ right.T
    signs = np.where(np.arange(k) % 2, -1.0, 1.0)[:, None]
    conflicting = signs * rng.normal(size=(1, dim))
    conflicting += 1e-3 * rng.normal(size=(k, dim))
    for name, j in (("random", random), ("ill", ill), ("conf", conflicting)):
        yield name, j @ j.T


def assert_kkt(p, q, x, tolerance):
    """KKT of ``min_{x >= 0} x^T P x / 2 + q^T x`` (sufficient: P is PSD):
    with ``r = P x + q`` the multiplier of ``x >= 0``, primal ``x >= 0``,
    dual ``r >= 0`` and complementarity ``x_i r_i = 0`` (``x_i = 0`` or
    ``r_i = 0``), up to ``tolerance``."""
    r = p @ x + q
    assert x.min() >= 0.0
    assert r.min() >= -tolerance
    assert np.minimum(x, np.abs(r)).max() <= tolerance
    assert np.abs(x * r).max() <= tolerance * max(1.0, np.abs(x).max())


@pytest.mark.parametrize("k", [2, 3, 5, 9])
def test_batched_qp_equals_one_at_a_time_and_is_kkt(k):
    rng = np.random.default_rng(100 + k)
    for name, p in adversarial_gramians(k, rng):
        # UPGrad's right-hand sides G u_i e_i, then random ones in range(P).
        qs = np.concatenate([p / k, -(p @ rng.normal(size=(k, k))).T])
        batch = nonnegative_qp_batch(tf.constant(p), tf.constant(qs))
        assert batch.dtype == tf.float64 and batch.shape == qs.shape
        batch = batch.numpy()
        scale = np.diag(p).max()
        for q, x in zip(qs, batch):
            single = nonnegative_qp(tf.constant(p), tf.constant(q)).numpy()
            # Same supports and systems; the batched contraction rounds in
            # another order, amplified by cond(P) up to 1e6: ~1e-10 seen.
            atol = 1e-8 * max(1.0, np.abs(single).max())
            np.testing.assert_allclose(
                x, single, rtol=0.0, atol=atol, err_msg=name
            )
            tolerance = 1e-9 * (scale + np.abs(q).max())
            assert_kkt(p, q, x, tolerance)
            best, _ = exact_nonnegative_qp(p, q)
            assert 0.5 * x @ p @ x + q @ x - best <= tolerance
