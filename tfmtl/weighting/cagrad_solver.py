"""Exact float64 solve of the CAGrad dual for K <= `MAX_ENUMERATED`.

The dual ``min_{w in simplex} F(w) = a^T w + r s(w)``, with ``a = G 1 / K``,
``r = c ||g0||`` and ``s(w) = ||g_w|| = sqrt(w^T G w)``, is solved by
enumerating the 2^K - 1 supports, as `nonnegative_qp_batch` does for its QP.

On a support S, at a point with ``s > 0``, stationarity reads
``a_S + (r / s) (G w)_S = lambda 1`` with ``1^T w_S = 1``. With
``nu = s / r`` and ``mu = lambda nu`` it is the linear system

    G_SS w_S - mu 1 = -nu a_S,    1^T w_S = 1,

whose solution is affine in nu: ``w = p + nu q`` (``p`` for the right-hand
side ``(0, 1)``, the face's min-norm point; ``q`` for ``(-a_S, 0)``). Then
``s = r nu`` and ``s^2 = w^T G w`` give the scalar quadratic

    (q^T G q - r^2) nu^2 + 2 p^T G q nu + p^T G p = 0.

On a nonsingular face ``G p = mu_p 1`` on S and ``1^T q = 0``, so
``p^T G q = 0`` and the one positive root is
``nu = sqrt(p^T G p / (r^2 - q^T G q))`` (when ``r^2 > q^T G q`` and the
face's min-norm point is not 0). The enumeration is exact: an optimum of
minimal support has a nonsingular system (a null vector ``z`` has
``G z = 0`` and ``1^T z = 0``, so moving along ``z`` changes neither ``g_w``
nor ``a^T w``: it reaches a smaller support at equal objective).

Every candidate is clipped to the simplex and certified by the Frank-Wolfe
gap ``grad^T w - min_i grad_i``, ``grad = a + r G w / s``: on the simplex an
upper bound on ``F(w) - min F``, zero exactly at a KKT point (``grad_i =
lambda`` on S, ``grad_i >= lambda`` off S). Degenerate optima (``s = 0``:
0 in the hull of the gradients and c >= 1) are left uncertified, for the
caller's iterative fallback. ``r = 0`` (c = 0) is a linear program: its
optimum, the vertex of least ``a_i``, is the singleton face (``q = 0``).
"""

import tensorflow as tf

from tfmtl.weighting._solvers import FLOAT64_TINY, _masked, _supports

FEASIBILITY = 1e-9  # candidates with an entry below -FEASIBILITY are dropped
# Gap certifying a face's point: its solve rounds to gaps ~1e-12 when
# cond(G) ~ 1e6 (nearly conflicting gradients); 1e-10 bounds the excess
# objective at 1e-10 trace(G), far below float32 training precision.
GAP_FLOOR = 1e-10


def _bordered_pinvs(gramian, masks):
    """Pseudo-inverses of ``[[G_SS, -1], [1^T, 0]]`` per support (identity
    off the support): [S, K + 1, K + 1]."""
    n = masks.shape[0]
    top = tf.concat([_masked(gramian, masks), -masks[:, :, None]], axis=2)
    bottom = tf.concat([masks, tf.zeros([n, 1], tf.float64)], 1)
    return tf.linalg.pinv(tf.concat([top, bottom[:, None, :]], axis=1))


def cagrad_dual_gap(gramian, mean_gram, radius, w):
    """Frank-Wolfe gap and value of the CAGrad dual at ``w`` [..., K]:
    (gap [...], F(w) [...])."""
    gw = tf.einsum("kl,...l->...k", gramian, w)
    s = tf.sqrt(tf.maximum(tf.reduce_sum(w * gw, -1), 0.0))
    value = tf.reduce_sum(w * mean_gram, -1) + radius * s
    grad = mean_gram + radius * gw / tf.maximum(s, FLOAT64_TINY)[..., None]
    gap = tf.reduce_sum(grad * w, -1) - tf.reduce_min(grad, -1)
    return gap, value


def cagrad_dual_faces(gramian, mean_gram, radius, masks):
    """Stationary points of the CAGrad dual on each support in ``masks``
    [S, K] (see the module docstring): (w [S, K] on the simplex,
    objectives [S], Frank-Wolfe gaps [S], inf where infeasible)."""
    k = gramian.shape[0]
    pinv = _bordered_pinvs(gramian, masks)
    p = pinv[:, :k, k] * masks
    q = -tf.linalg.matvec(pinv[:, :k, :k], masks * mean_gram[None]) * masks
    gp = tf.linalg.matvec(gramian[None], p)
    gq = tf.linalg.matvec(gramian[None], q)
    quadratic = tf.reduce_sum(q * gq, 1) - radius**2
    linear = 2.0 * tf.reduce_sum(p * gq, 1)
    constant = tf.reduce_sum(p * gp, 1)
    root = tf.sqrt(tf.maximum(linear**2 - 4.0 * quadratic * constant, 0.0))
    # Cancellation-free form of the positive root (-B + sqrt(D)) / (2 A).
    nu = 2.0 * constant / (root - linear)
    # r = 0 (a linear program): nu is meaningless, keep the vertices p.
    valid = tf.math.is_finite(nu) & (nu >= 0.0) & (radius > 0.0)
    nu = tf.where(valid, nu, 0.0)
    w = p + nu[:, None] * q
    feasible = tf.reduce_all(tf.math.is_finite(w), 1)
    feasible &= tf.reduce_min(w, 1) >= -FEASIBILITY
    w = tf.where(feasible[:, None], tf.maximum(w, 0.0), 0.0)
    total = tf.reduce_sum(w, 1, keepdims=True)
    feasible &= tf.abs(total[:, 0] - 1.0) <= FEASIBILITY * k
    w = w / tf.maximum(total, FLOAT64_TINY)
    gaps, objectives = cagrad_dual_gap(gramian, mean_gram, radius, w)
    gaps = tf.where(feasible & tf.math.is_finite(gaps), gaps, float("inf"))
    return w, objectives, gaps


def enumerated_cagrad_dual(gramian, mean_gram, radius, tolerance):
    """The certified minimiser of the CAGrad dual by enumeration of the
    supports: (w [K], certified: whether its gap is at most
    ``max(tolerance, GAP_FLOOR)``). Among the certified candidates, the one
    of least objective."""
    w, objectives, gaps = cagrad_dual_faces(
        gramian, mean_gram, radius, _supports(gramian.shape[0])
    )
    ok = gaps <= max(tolerance, GAP_FLOOR)
    best = tf.argmin(tf.where(ok, objectives, float("inf")))
    return tf.gather(w, best), tf.reduce_any(ok)
