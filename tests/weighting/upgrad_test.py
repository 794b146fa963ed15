"""UPGrad and DualProj against a float64 numpy reference, and the dual cone.

The reference follows TorchJD ``src/torchjd/aggregation/_upgrad.py``
(``UPGradWeighting.forward``), ``_dualproj.py``
(``DualProjWeighting.forward``) and ``_utils/dual_cone.py``
(``_project_weight_vector``: ``min v^T G v`` s.t. ``u <= v``), with the QP
solved exactly by enumerating which constraints are active.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tests.weighting.reference_helpers import (
    FAMILIES,
    direction,
    jacobian_families,
    relative_error,
)
from tfmtl.weighting import DualProj, UPGrad

# Max relative error of d per family. The ridge bounds cond(G / tr + eps I)
# by 1e4, and the float32 Gramian's rounding (6e-8) is amplified by it:
# about 1e-4 on the singular families, 1e-5 elsewhere (measured maxima
# 8e-5 / 2.1e-4 on low_rank, 3.4e-5 ill_conditioned, 4e-6 otherwise).
TOLERANCE = {
    "random": 1e-4,
    "nearly_conflicting": 1e-4,
    "ill_conditioned": 1e-3,
    "low_rank": 1e-3,
}


def regularized_gramian(jacobian, norm_eps=1e-4, reg_eps=1e-4):
    """TorchJD's ``regularize(normalize(J J^T, norm_eps), reg_eps)``."""
    gramian = jacobian @ jacobian.T
    trace = np.trace(gramian)
    gramian = np.zeros_like(gramian) if trace < norm_eps else gramian / trace
    return gramian + reg_eps * np.eye(len(gramian))


def project_weights(u, gramian):
    """``argmin_v v^T G v`` s.t. ``v >= u``, by enumerating the active sets:
    ``v_A = u_A``, ``G_FF v_F = -G_FA u_A``; keep the points with
    ``v_F >= u_F`` and multipliers ``(G v)_A >= 0``, return the best."""
    k = len(u)
    best, best_value = None, np.inf
    for size in range(k + 1):
        for free in itertools.combinations(range(k), size):
            free = list(free)
            active = [i for i in range(k) if i not in free]
            v = u.copy()
            if free:
                rhs = -gramian[np.ix_(free, active)] @ u[active]
                v[free] = np.linalg.lstsq(
                    gramian[np.ix_(free, free)], rhs, rcond=None
                )[0]
            scale = 1e-9 * (1.0 + np.abs(u).max())
            if np.any(v < u - scale) or np.any((gramian @ v)[active] < -scale):
                continue
            value = v @ gramian @ v
            if value < best_value:
                best, best_value = v, value
    return best


def reference_upgrad(jacobian):
    k = len(jacobian)
    gramian = regularized_gramian(jacobian)
    w = sum(project_weights(np.eye(k)[i] / k, gramian) for i in range(k))
    return jacobian.T @ w


def reference_dual_proj(jacobian):
    k = len(jacobian)
    w = project_weights(np.full(k, 1.0 / k), regularized_gramian(jacobian))
    return jacobian.T @ w


def in_dual_cone(jacobian, d, w, reg_eps=1e-4):
    """``J d >= -tol``: the ridge ``reg_eps I`` on ``G / trace`` moves
    ``J d = G w`` by at most ``reg_eps trace(G) |w_i|``; float32 input
    rounding adds ~1e-6 of ``||J|| ||d||``."""
    trace = np.trace(jacobian @ jacobian.T)
    tol = 1.01 * reg_eps * trace * np.abs(w) + 1e-5 * np.sqrt(trace) * (
        np.linalg.norm(d)
    )
    return np.all(jacobian @ d >= -tol)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "layer_class, reference",
    [(UPGrad, reference_upgrad), (DualProj, reference_dual_proj)],
    ids=["upgrad", "dualproj"],
)
def test_matches_reference_and_lies_in_the_dual_cone(
    layer_class, reference, family
):
    errors = []
    for _, jacobian in jacobian_families(seed=0, families=(family,)):
        d, w = direction(layer_class(), jacobian)
        errors.append(relative_error(d, reference(jacobian)))
        assert in_dual_cone(jacobian, d, w)
    print(f"{layer_class.__name__} {family}: max error {max(errors):.2e}")
    assert max(errors) <= TOLERANCE[family]


def test_non_conflicting_gradients_are_left_alone():
    # Orthogonal gradients: every u_i g_i is already in the dual cone, so
    # UPGrad and DualProj are the mean (up to the ridge).
    jacobian = np.diag([1.0, 2.0, 3.0])
    for layer_class in (UPGrad, DualProj):
        _, w = direction(layer_class(reg_eps=0.0), jacobian)
        np.testing.assert_allclose(w, np.full(3, 1 / 3), rtol=1e-6)


def test_preference_vector():
    jacobian = np.array([[1.0, 0.0], [-0.5, 1.0]])
    _, w = direction(DualProj(pref_vector=[0.9, 0.1]), jacobian)
    expected = project_weights(
        np.array([0.9, 0.1]), regularized_gramian(jacobian)
    )
    np.testing.assert_allclose(w, expected, rtol=1e-5)


def reference_weights(layer_class, jacobian):
    """The float64 reference weights ``w`` of UPGrad or DualProj."""
    k = len(jacobian)
    gramian = regularized_gramian(jacobian)
    if layer_class is DualProj:
        return project_weights(np.full(k, 1.0 / k), gramian)
    return sum(project_weights(np.eye(k)[i] / k, gramian) for i in range(k))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("layer_class", [UPGrad, DualProj])
def test_a_float64_gramian_is_not_rounded_to_float32(layer_class, family):
    # Keras autocasting would round the gramian= argument to float32 before
    # call: weight errors 3e-6 to 4e-5 of max |w|. Used as float64, only
    # the float32 weights' own rounding (6e-8) is left (4.5e-8 measured).
    for _, jacobian in jacobian_families(seed=0, families=(family,)):
        k = len(jacobian)
        layer = layer_class()
        layer.build(k)
        total = layer(
            tf.constant(np.arange(1.0, k + 1), tf.float64),
            gramian=tf.constant(jacobian @ jacobian.T, tf.float64),
        )
        assert total.dtype == tf.float32  # the losses still become float32
        w = layer.task_weights.numpy().astype(np.float64)
        expected = reference_weights(layer_class, jacobian)
        assert np.abs(w - expected).max() <= 2e-7 * np.abs(expected).max()
