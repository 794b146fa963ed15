"""CAGrad: conflict-averse gradient descent.

Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021 (arXiv:2110.14048), Algorithm 1. Reference
implementations checked against: Cranial-XIX/CAGrad (``cagrad`` in
``nyu/utils.py``), nash-mtl ``methods/weight_methods.py`` and LibMTL
``LibMTL/weighting/CAGrad.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting._solvers import MAX_ENUMERATED, minimize_on_simplex
from tfmtl.weighting.cagrad_solver import enumerated_cagrad_dual
from tfmtl.weighting.gramian_weighting import GramianWeighting


def cagrad_dual(gramian, c):
    """The CAGrad dual ``w -> (value, gradient)`` on ``G / trace(G)``, and
    its radius ``c ||g0||`` (float64)."""
    gramian = tf.cast(gramian, tf.float64)
    gramian = gramian / tf.maximum(tf.linalg.trace(gramian), 1e-300)
    mean_gram = tf.reduce_mean(gramian, axis=1)  # b_i = g_i . g0
    g0_norm = tf.sqrt(tf.maximum(tf.reduce_mean(mean_gram), 0.0))
    radius = c * g0_norm

    def value_and_grad(w):
        gw = tf.linalg.matvec(gramian, w)
        norm = tf.sqrt(tf.maximum(tf.reduce_sum(w * gw), 1e-300))
        value = tf.reduce_sum(w * mean_gram) + radius * norm
        return value, mean_gram + radius * gw / norm

    return gramian, mean_gram, value_and_grad, radius


@tf.function
def cagrad_coefficients(gramian, c, rescale, iterations=2000, tolerance=1e-12):
    """Coefficients of the CAGrad direction from the Gramian (see CAGrad).

    The dual is solved in float64 to a Frank-Wolfe (= primal-dual) gap of
    `tolerance` relative to ``trace(G)`` (no less than `GAP_FLOOR` = 1e-10
    for the face solve, whose rounding reaches ~1e-12 at cond(G) ~ 1e6):
    for K <= `MAX_ENUMERATED` exactly,
    by enumeration of the supports (`enumerated_cagrad_dual`), else (or if
    no support's point is certified) iteratively, for at most `iterations`.
    """
    k = gramian.shape[0]
    c = tf.constant(c, tf.float64)
    gramian, mean_gram, value_and_grad, radius = cagrad_dual(gramian, c)

    def iterative():
        return minimize_on_simplex(value_and_grad, k, iterations, tolerance)

    if k <= MAX_ENUMERATED:
        w, certified = enumerated_cagrad_dual(
            gramian, mean_gram, radius, tolerance
        )
        w = tf.cond(certified, lambda: w, iterative)
    else:
        w = iterative()
    gw_norm = tf.sqrt(
        tf.maximum(tf.reduce_sum(w * tf.linalg.matvec(gramian, w)), 0.0)
    )
    lam = tf.math.divide_no_nan(radius, gw_norm)
    coefficients = 1.0 / k + lam * w
    if rescale == 1:
        coefficients /= 1.0 + c**2
    elif rescale == 2:
        coefficients /= 1.0 + c
    return coefficients


@keras.saving.register_keras_serializable(package="tfmtl")
class CAGrad(GramianWeighting):
    """Maximises the worst task improvement near the mean gradient.

    CAGrad solves ``max_d min_i g_i . d`` s.t. ``||d - g0|| <= c ||g0||``
    (``g0`` the mean gradient) through its dual:
    ``w = argmin_{w in simplex} g_w . g0 + c ||g0|| ||g_w||`` with
    ``g_w = sum_i w_i g_i``, and returns ``d = g0 + (c ||g0|| / ||g_w||) g_w``
    divided by ``1 + c^2`` (``rescale=1``).

    Gramian derivation: ``g_w . g0 = w^T G 1 / K``,
    ``||g0||^2 = 1^T G 1 / K^2`` and ``||g_w||^2 = w^T G w``, so the dual is a
    K-dimensional convex problem in inner products, and
    ``d = sum_i (1/K + lambda w_i) g_i`` with
    ``lambda = c ||g0|| / ||g_w||``. The dual is solved in float64 and
    certified by its Frank-Wolfe gap ``grad . w - min_i grad_i``, which
    equals the primal-dual gap ``D(w) - min_i g_i . d(w)`` (relative to
    ``trace(G)``): for K <= 10 exactly, by enumerating the faces
    (`enumerated_cagrad_dual`, gap <= 1e-10); else, or if no face is
    certified (0 in the hull and c >= 1), by accelerated projected gradient
    until the gap is below 1e-12 or `solver_iterations`.

    # compat: the reference solves the dual with SciPy SLSQP (float64,
    # default tolerance); the Gramian is first divided by its trace (the
    # minimiser is invariant to that scale).

    Args:
        c: conflict-aversion radius (nash-mtl / paper NYUv2 default 0.4;
            c = 0 gives the mean gradient).
        rescale: 0 (none), 1 (divide by 1 + c^2, default) or 2 (by 1 + c).
        gradients: ``"parameters"`` (paper; LibMTL refuses representation
            gradients) or ``"representation"``.
        solver_iterations: iteration cap of the dual solver.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    cagrad = CAGrad(c=0.0)
    cagrad.build(2)
    cagrad(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights 1/2
    ```

    Reference:
        Liu et al., NeurIPS 2021, arXiv:2110.14048.
    """

    default_gradients = "parameters"

    def __init__(
        self,
        c=0.4,
        rescale=1,
        gradients="parameters",
        solver_iterations=2000,
        **kwargs,
    ):
        super().__init__(gradients=gradients, **kwargs)
        if rescale not in (0, 1, 2):
            raise ValueError(f"rescale must be 0, 1 or 2, got {rescale!r}")
        self.c = c
        self.rescale = rescale
        self.solver_iterations = solver_iterations

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        weights = cagrad_coefficients(
            gramian, float(self.c), self.rescale, self.solver_iterations
        )
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            c=self.c,
            rescale=self.rescale,
            solver_iterations=self.solver_iterations,
        )
        return config
