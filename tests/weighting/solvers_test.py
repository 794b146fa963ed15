"""The simplex solver against an exact enumeration of faces (K = 7)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting._solvers import min_norm_coefficients


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
