"""Aligned-MTL: align the task gradients to an orthogonal, equal-norm set.

Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment
for Multi-Task Learning", CVPR 2023 (arXiv:2305.19000), Algorithm 1.
Reference implementations checked against: SamsungLabs/MTL and LibMTL
``LibMTL/weighting/Aligned_MTL.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting

FLOAT32_EPS = 1.1920929e-07


@keras.saving.register_keras_serializable(package="tfmtl")
class AlignedMTL(GramianWeighting):
    """Weights ``w = sigma_min G^{-1/2} 1`` from the eigendecomposition.

    With the SVD ``J = U S V^T`` of the K x P task Jacobian, Aligned-MTL
    replaces J by the stable ``J_hat = sigma_min U V^T`` (all singular values
    equal to the smallest non-zero one) and descends along
    ``J_hat^T 1``. Gramian derivation: ``G = J J^T = U S^2 U^T`` gives U and
    S by eigendecomposition, and ``V = J^T U S^{-1}``, hence
    ``J_hat^T 1 = sigma_min J^T U S^{-1} U^T 1 = J^T (sigma_min G^{-1/2} 1)``:
    the coefficients are ``sigma_min G^{-1/2} 1``, with G^{-1/2} restricted
    to the eigenvalues above ``max eigenvalue * K * eps`` (pseudo-inverse, as
    in the reference's rank truncation).

    Args:
        gradients: ``"parameters"`` (default, the paper's main variant) or
            ``"representation"`` (the paper's cheaper Aligned-MTL-UB).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    aligned = AlignedMTL()
    aligned.build(2)
    aligned(tf.constant([1.0, 1.0]), gramian=tf.constant([[1.0, 0.0],
                                                           [0.0, 4.0]]))
    # weights (1, 1/2): both components rescaled to the smallest norm
    ```

    Reference:
        Senushkin et al., CVPR 2023, arXiv:2305.19000.
    """

    default_gradients = "parameters"

    def __init__(self, gradients="parameters", **kwargs):
        super().__init__(gradients=gradients, **kwargs)

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        gramian = 0.5 * (gramian + tf.transpose(gramian))
        eigenvalues, eigenvectors = tf.linalg.eigh(gramian)
        largest = eigenvalues[-1]  # eigh sorts in ascending order
        kept = eigenvalues > largest * self.num_tasks * FLOAT32_EPS
        safe = tf.where(kept, eigenvalues, tf.maximum(largest, 1e-300))
        inverse_root = tf.where(kept, tf.math.rsqrt(safe), 0.0)
        sigma_min = tf.sqrt(tf.maximum(tf.reduce_min(safe), 0.0))
        projected = tf.linalg.matvec(
            eigenvectors,
            tf.ones([self.num_tasks], tf.float64),
            transpose_a=True,
        )
        weights = sigma_min * tf.linalg.matvec(
            eigenvectors, inverse_root * projected
        )
        return self.combine(weights, losses, training)
