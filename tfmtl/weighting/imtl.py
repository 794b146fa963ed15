"""IMTL-G: the combined gradient has equal projections on every task.

Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, "Towards Impartial Multi-task
Learning", ICLR 2021 (OpenReview IMPnRXEWpvr; no arXiv version), Sec. 3.2.
Reference implementation checked against: LibMTL ``LibMTL/weighting/IMTL.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting


@keras.saving.register_keras_serializable(package="tfmtl")
class IMTL(GramianWeighting):
    """Closed-form IMTL-G scaling factors from the Gramian.

    IMTL-G looks for ``g = sum_i a_i g_i`` with ``sum_i a_i = 1`` and equal
    projections ``g . u_i`` on the unit gradients ``u_i = g_i / ||g_i||``.
    With task 1 as reference, ``D`` the rows ``g_1 - g_i`` and ``U`` the rows
    ``u_1 - u_i`` (i = 2..K), the paper's solution is
    ``a_{2:K} = g_1 U^T (D U^T)^{-1}``, ``a_1 = 1 - sum a_{2:K}``.

    Gramian derivation: with ``n_i = sqrt(G_ii)``,
    ``(g_1 U^T)_j = G_11 / n_1 - G_1j / n_j`` and
    ``(D U^T)_ij = G_11 / n_1 - G_1j / n_j - G_i1 / n_1 + G_ij / n_j``, so the
    K - 1 linear system needs inner products only. It is formed and solved
    in float64: the differences ``G_11 / n_1 - G_1j / n_j`` cancel, and in
    float32 that lost up to 4e-2 of the solution on ill-conditioned inputs.

    # compat: we use a pseudo-inverse where LibMTL calls ``torch.inverse``
    # (identical for linearly independent gradients, finite otherwise), and
    # implement only the gradient part IMTL-G; the loss-balance part IMTL-L
    # (a learned loss scale) is not included.

    Args:
        gradients: ``"representation"`` (default: the paper applies IMTL-G
            to the gradients of the shared feature) or ``"parameters"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    imtl = IMTL()
    imtl.build(2)
    imtl(tf.constant([1.0, 1.0]), gramian=tf.constant([[1.0, 0.0],
                                                        [0.0, 4.0]]))
    # weights (2/3, 1/3): projections 2/3 on both unit gradients
    ```

    Reference:
        Liu et al., ICLR 2021, https://openreview.net/forum?id=IMPnRXEWpvr.
    """

    default_gradients = "representation"

    def __init__(self, gradients="representation", **kwargs):
        super().__init__(gradients=gradients, **kwargs)

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        if self.num_tasks == 1:
            return self.combine(tf.ones([1]), losses, training)
        one = tf.constant(1.0, tf.float64)
        # Divide by the trace: the solution is scale-invariant.
        gramian = gramian / tf.maximum(tf.linalg.trace(gramian), 1e-300)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 1e-300))
        projected = gramian / norms[None, :]  # g_i . u_j
        rhs = projected[0, 0] - projected[0, 1:]  # g_1 U^T
        system = rhs[None, :] - (projected[1:, 0:1] - projected[1:, 1:])
        tail = tf.linalg.matvec(tf.linalg.pinv(system), rhs, transpose_a=True)
        weights = tf.concat([[one - tf.reduce_sum(tail)], tail], axis=0)
        return self.combine(weights, losses, training)
