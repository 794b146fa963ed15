"""MGDA: the minimum-norm point of the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018 (arXiv:1810.04650). Reference implementations checked against:
isl-org/MultiObjectiveOptimization ``min_norm_solvers.py`` and LibMTL
``LibMTL/weighting/MGDA.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting._solvers import min_norm_coefficients
from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.weighting import global_losses

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


@keras.saving.register_keras_serializable(package="tfmtl")
class MGDA(GramianWeighting):
    """Weights ``a = argmin_{a in simplex} ||sum_i a_i g_i / n_i||^2``.

    Gramian derivation: ``||sum_i a_i g_i / n_i||^2 = a^T (G / n n^T) a``, a
    quadratic in ``a`` that only needs inner products. It is solved in
    float64 by `min_norm_coefficients`: exactly for K <= 10 (the KKT system
    on every face of the simplex, best feasible KKT point), beyond that by
    accelerated projected gradient to a Frank-Wolfe gap of 1e-12 (relative
    to the trace); the reference runs its projected-gradient / Frank-Wolfe
    ``MinNormSolver`` until a tolerance.

    The normalisers ``n_i`` (``normalization``) are 1 (``"none"``),
    ``||g_i||`` (``"l2"``), ``L_i`` (``"loss"``) or ``L_i ||g_i||``
    (``"loss+"``). As in the original code the solution scales the *raw*
    losses (``w = a``, summing to 1).

    # compat: LibMTL applies ``a`` to the normalised gradients (w = a / n)
    # when it works on parameter gradients; with ``normalization="none"``
    # (the default, as in LibMTL) both agree.

    Args:
        normalization: one of ``"none"``, ``"l2"``, ``"loss"``, ``"loss+"``.
        gradients: ``"representation"`` (default: the paper's MGDA-UB uses
            the gradients of the shared representation) or ``"parameters"``.
        solver_iterations: iteration cap of the solver for K > 10.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    mgda = MGDA()
    mgda.build(2)
    mgda(tf.constant([1.0, 1.0]), gramian=tf.constant([[1.0, 0.0],
                                                        [0.0, 4.0]]))
    # weights (0.8, 0.2)
    ```

    Reference:
        Sener & Koltun, NeurIPS 2018, arXiv:1810.04650.
    """

    default_gradients = "representation"

    def __init__(
        self,
        normalization="none",
        gradients="representation",
        solver_iterations=2000,
        **kwargs,
    ):
        super().__init__(gradients=gradients, **kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, "
                f"got {normalization!r}"
            )
        self.normalization = normalization
        self.solver_iterations = solver_iterations

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 1e-20))
        if self.normalization == "none":
            normalizers = tf.ones_like(norms)
        elif self.normalization == "l2":
            normalizers = norms
        else:
            normalizers = tf.cast(
                tf.maximum(tf.stop_gradient(global_losses(losses)), 1e-8),
                tf.float64,
            )
            if self.normalization == "loss+":
                normalizers *= norms
        scaled = gramian / (normalizers[:, None] * normalizers[None, :])
        weights = min_norm_coefficients(scaled, self.solver_iterations)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            normalization=self.normalization,
            solver_iterations=self.solver_iterations,
        )
        return config
