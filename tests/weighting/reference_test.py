"""Gradient methods against independent float64 numpy references.

Each reference below re-implements the paper's definition on explicit task
gradients (the rows of J), written from the paper / original code, never from
tfmtl. Our layer is fed the Gramian ``J J^T`` (float64) and its weights w give
``d = J^T w``. The error of a case is
``||d - d_ref|| / sum_i |w_i| ||g_i||``: the weights leave the layer in
float32, so 1e-7 is the floor. Families come from ``jacobians.py``.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tests.weighting.jacobians import jacobian_families
from tfmtl import weighting

FAMILIES = ("random", "nearly_conflicting", "ill_conditioned", "low_rank")


def layer_weights(layer, jacobian):
    k = len(jacobian)
    layer.build(k)
    gramian = tf.constant(jacobian @ jacobian.T, tf.float64)
    layer(tf.ones([k]), gramian=gramian, training=True)
    return layer.task_weights.numpy().astype(np.float64)


def ref_pcgrad(jacobian):
    """Yu et al. 2020, Algorithm 1 (tianheyu927/PCGrad ``PCGrad.py``,
    ``pc_grad_update``): g_i^PC -= min(0, g_i^PC . g_j) / ||g_j||^2 g_j for
    j != i, against the original g_j; here in the order j = 0..K-1."""
    projected = jacobian.copy()
    for i, j in itertools.product(range(len(jacobian)), repeat=2):
        if i != j:
            dot = projected[i] @ jacobian[j]
            if dot < 0:
                projected[i] -= dot / (jacobian[j] @ jacobian[j]) * jacobian[j]
    return projected.sum(0)


def ref_min_norm(jacobian):
    """Sener & Koltun 2018, min-norm point of the convex hull of the g_i
    (isl-org/MultiObjectiveOptimization ``min_norm_solvers.py``,
    ``MinNormSolver.find_min_norm_element``), solved exactly: KKT system on
    every face, best feasible face optimum."""
    gramian = jacobian @ jacobian.T
    k, best = len(gramian), (np.inf, None)
    for size in range(1, k + 1):
        for face in map(list, itertools.combinations(range(k), size)):
            system = np.ones((size + 1, size + 1))
            system[:size, :size] = gramian[np.ix_(face, face)]
            system[size, size] = 0.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            a = np.linalg.lstsq(system, rhs, rcond=None)[0][:size]
            if (a >= -1e-12).all():
                full = np.zeros(k)
                full[face] = np.maximum(a, 0.0) / np.maximum(a, 0.0).sum()
                value = full @ gramian @ full
                if value < best[0]:
                    best = (value, full)
    return best[1]


def ref_imtl(jacobian):
    """Liu et al. 2021, IMTL-G closed form (LibMTL ``IMTL.py``,
    ``IMTL.backward``): a_{2:K} = g_1 U^T (D U^T)^{-1} with D = g_1 - g_i,
    U = u_1 - u_i, a_1 = 1 - sum a_{2:K}."""
    units = jacobian / np.linalg.norm(jacobian, axis=1, keepdims=True)
    d = jacobian[0] - jacobian[1:]
    u = units[0] - units[1:]
    tail = np.linalg.lstsq((d @ u.T).T, jacobian[0] @ u.T, rcond=None)[0]
    return np.concatenate([[1.0 - tail.sum()], tail])


def ref_aligned(jacobian):
    """Senushkin et al. 2023, Algorithm 1 (SamsungLabs/MTL
    ``aligned_mtl.py``; LibMTL ``Aligned_MTL.py``): J_hat = sigma_min U V^T
    from the SVD of J, d = J_hat^T 1; returns d."""
    u, s, vt = np.linalg.svd(jacobian, full_matrices=False)
    # LibMTL's rank rule: eigenvalues s^2 of G above max * K * float32 eps.
    kept = s**2 > s[0] ** 2 * len(jacobian) * np.finfo(np.float32).eps
    return s[kept].min() * vt[kept].T @ (u[:, kept].T @ np.ones(len(u)))


def ref_gradvac(jacobian, beta=0.01):
    """Wang et al. 2021, Algorithm 2 (LibMTL ``GradVac.py``, group type 0)
    from zero targets, order j = 0..K-1, j != i; returns d."""
    k = len(jacobian)
    targets = np.zeros((k, k))
    result = jacobian.copy()
    for i, j in itertools.product(range(k), repeat=2):
        if i == j:
            continue
        gi, gj = result[i], jacobian[j]
        phi = gi @ gj / (np.linalg.norm(gi) * np.linalg.norm(gj))
        phi = np.clip(phi, -1.0, 1.0)
        hat = targets[i, j]
        if phi < hat:
            scale = (
                np.linalg.norm(gi)
                * (hat * np.sqrt(1 - phi**2) - phi * np.sqrt(1 - hat**2))
                / (np.linalg.norm(gj) * np.sqrt(1 - hat**2))
            )
            result[i] = gi + scale * gj
        targets[i, j] = (1 - beta) * hat + beta * phi
    return result.sum(0)


def cases():
    return list(jacobian_families(0))


def every(cases_):
    return cases_


def direction_error(jacobian, w, d_ref):
    """``||J^T w - d_ref|| / sum_i |w_i| ||g_i||`` (1e-7: float32 floor)."""
    scale = np.abs(w) @ np.linalg.norm(jacobian, axis=1)
    return np.linalg.norm(jacobian.T @ w - d_ref) / max(scale, 1e-300)


def ref_nash(jacobian):
    """Navon et al. 2022, Eq. (3): alpha > 0 with G alpha = 1 / alpha on the
    raw Gramian (AvivNavon/nash-mtl ``methods/weight_methods.py``,
    ``NashMTL.solve_optimization``: its constraint
    ``log(alpha n) + log(G alpha / n) >= 0`` undoes the normalisation n),
    found as the minimiser of alpha^T G alpha / 2 - sum log alpha by Newton
    steps with a backtracking line search; returns d."""
    gramian = jacobian @ jacobian.T
    alpha = 1.0 / np.sqrt(np.diag(gramian))

    def f(a):
        return 0.5 * a @ gramian @ a - np.log(a).sum()

    for _ in range(500):
        grad = gramian @ alpha - 1.0 / alpha
        step = -np.linalg.solve(gramian + np.diag(alpha**-2.0), grad)
        if -grad @ step < 1e-24:
            break
        t = 1.0
        while (alpha + t * step).min() <= 0 or f(alpha + t * step) > f(
            alpha
        ) + 0.25 * t * (grad @ step):
            t *= 0.5
        alpha = alpha + t * step
    return jacobian.T @ alpha


def ref_gradnorm(jacobian):
    """Chen et al. 2018: the first step uses the initial weights w = 1
    (LibMTL ``GradNorm.py``); returns d = sum_i g_i."""
    return jacobian.sum(0)


def nonsingular(cases_):
    return [
        (f, j) for f, j in cases_ if f != "low_rank" and len(j) <= j.shape[1]
    ]


METHODS = {
    "pcgrad": (lambda: weighting.PCGrad(shuffle=False), ref_pcgrad, every),
    "mgda": (weighting.MGDA, lambda j: j.T @ ref_min_norm(j), every),
    "imtl": (weighting.IMTL, lambda j: j.T @ ref_imtl(j), nonsingular),
    "aligned_mtl": (weighting.AlignedMTL, ref_aligned, every),
    "gradvac": (lambda: weighting.GradVac(shuffle=False), ref_gradvac, every),
    "gradnorm": (weighting.GradNorm, ref_gradnorm, every),
    "nash_mtl": (weighting.NashMTL, ref_nash, nonsingular),
}


def max_errors(name):
    """Largest ``direction_error`` per family for method ``name``."""
    factory, reference, select = METHODS[name]
    errors = {}
    for family, jacobian in select(cases()):
        w = layer_weights(factory(), jacobian)
        error = direction_error(jacobian, w, reference(jacobian))
        errors[family] = max(errors.get(family, 0.0), error)
    return errors


# Largest allowed direction_error per method and family (measured after the
# issue 13 fixes, with margin; the old float32 code exceeded the starred
# ones: see the commit message).
TOLERANCES = {
    "pcgrad": dict.fromkeys(FAMILIES, 1e-6),  # * j != i
    "mgda": {  # * exact float64 solver
        "random": 1e-6,
        "nearly_conflicting": 1e-5,
        "ill_conditioned": 2e-4,
        "low_rank": 1e-6,
    },
    "imtl": {  # * float64 system
        "random": 1e-6,
        "nearly_conflicting": 1e-5,
        "ill_conditioned": 3e-4,
    },
    "aligned_mtl": {
        "random": 1e-5,
        "nearly_conflicting": 1e-5,
        "ill_conditioned": 1e-4,
        "low_rank": 1e-6,
    },
    "gradvac": dict.fromkeys(FAMILIES, 1e-6),
    "gradnorm": dict.fromkeys(FAMILIES, 1e-6),
    "nash_mtl": {  # * raw Gramian, float64 Newton
        "random": 1e-6,
        "nearly_conflicting": 1e-5,
        "ill_conditioned": 3e-4,
    },
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_direction_matches_the_reference(name):
    errors = max_errors(name)
    for family, error in errors.items():
        assert error <= TOLERANCES[name][family], (name, family, error)


def test_mgda_direction_is_the_min_norm_point():
    """Optimality of d in the convex hull: g_i . d >= ||d||^2 for all i,
    with equality where a_i > 0 (tolerance 1e-6 of max ||g_i||^2)."""
    for family, jacobian in cases():
        a = layer_weights(weighting.MGDA(), jacobian)
        d = jacobian.T @ a
        slack = jacobian @ d - d @ d
        tol = 1e-6 * (jacobian**2).sum(1).max()
        assert slack.min() >= -tol, family
        assert np.abs(slack[a > 1e-6]).max() <= tol, family


def test_nash_direction_is_invariant_to_a_common_scaling():
    for family, jacobian in nonsingular(cases()):
        d = jacobian.T @ layer_weights(weighting.NashMTL(), jacobian)
        for scale in (1e-3, 1e3):
            scaled = scale * jacobian
            w = layer_weights(weighting.NashMTL(), scaled)
            error = direction_error(scaled, w, d)
            assert error <= TOLERANCES["nash_mtl"][family], (family, scale)


def test_cagrad_primal_dual_gap_is_small():
    """d = sum_i w_i g_i must attain the dual value: the gap between the
    dual D(w) = g_w . g0 + c ||g0|| ||g_w|| and the primal min_i g_i . d
    (Liu et al. 2021, Eq. 4; Cranial-XIX/CAGrad ``cagrad`` in
    ``nyu/utils.py``) is at most 1e-6 of trace(G)."""
    c = 0.4
    for family, jacobian in cases():
        k = len(jacobian)
        coefficients = layer_weights(weighting.CAGrad(c=c, rescale=0), jacobian)
        direction = jacobian.T @ coefficients
        g0 = jacobian.mean(0)
        radius = c * np.linalg.norm(g0)
        assert np.linalg.norm(direction - g0) <= radius * (1 + 1e-5) + 1e-12
        w = coefficients - 1.0 / k
        g_w = jacobian.T @ (w / w.sum()) if w.sum() > 1e-12 else g0 * 0
        dual = g_w @ g0 + radius * np.linalg.norm(g_w)
        primal = (jacobian @ direction).min()
        assert dual - primal <= 1e-6 * (jacobian**2).sum(), family


def test_graddrop_keeps_sign_consistent_coordinates():
    """Chen et al. 2020, Algorithm 1 (LibMTL ``GradDrop.py``): where all
    tasks agree in sign the purity is 0 or 1 and every gradient is kept."""
    rng = np.random.default_rng(0)
    grads = np.abs(rng.normal(size=(3, 16))) * np.sign(rng.normal(size=16))
    layer = weighting.GradDrop(seed=1)
    layer.build(3)
    (combined,) = layer.transform_gradients(
        [[tf.constant(g, tf.float32)] for g in grads]
    )
    np.testing.assert_allclose(combined.numpy(), grads.sum(0), rtol=1e-6)
