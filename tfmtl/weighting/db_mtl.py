"""DB-MTL: dual-balancing multi-task learning.

Lin et al., "Dual-Balancing for Multi-Task Learning", 2023
(arXiv:2308.12029), Algorithm 1. Reference implementation checked against:
LibMTL ``LibMTL/weighting/DB_MTL.py`` (``DB_MTL.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.weighting import global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class DBMTL(GramianWeighting):
    """Log losses (loss balance) with gradients rescaled to the largest norm.

    DB-MTL differentiates ``log L_i`` (gradient ``g_i / L_i``), keeps an EMA
    ``m_i`` of those gradients (``m <- g + beta_t (m - g)``,
    ``beta_t = beta / t^beta_sigma``) and steps along
    ``sum_i (max_j ||m_j|| / ||m_i||) m_i``.

    # compat: the EMA ``m_i`` is per-parameter state (a D-vector per task),
    # which no K x K Gramian carries: the update direction would mix
    # gradients taken at earlier parameters. We keep the EMA of the norms
    # ``||g_i|| / L_i`` (read from the Gramian's diagonal, same recursion
    # and zero start) and take ``m_i`` as the current log-loss gradient
    # scaled to that length: ``w_i = (max_j e_j / e_i) (e_i / n_i) / L_i``
    # with ``n_i = ||g_i|| / L_i`` and ``e`` its EMA. This equals the
    # reference whenever every task's gradient direction is the same
    # across steps (magnitudes and losses may change), and always for
    # ``beta = 0``. On task-specific parameters the reference applies
    # weight 1 to ``log L_i``; here the heads receive the same ``w_i`` as
    # the shared parameters.

    Reads the parameter Gramian by default (LibMTL refuses representation
    gradients); ``gradients="representation"`` switches sources.

    Args:
        beta: EMA coefficient (LibMTL ``DB_beta``, default 0.9).
        beta_sigma: decay exponent of ``beta`` over steps (LibMTL default 0).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica (must be > 0).
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    db_mtl = DBMTL()
    db_mtl.build(2)
    db_mtl(tf.constant([1.0, 2.0]), gramian=tf.eye(2))
    ```

    Reference:
        Lin et al., arXiv:2308.12029, 2023.
    """

    default_gradients = "parameters"

    def __init__(self, beta=0.9, beta_sigma=0.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)

    def build(self, num_tasks):
        super().build(num_tasks)
        self.norm_ema = self.state_variable(
            "norm_ema", "zeros", dtype="float64"
        )

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        current = tf.cast(tf.stop_gradient(global_losses(losses)), tf.float64)
        inverse = 1.0 / (current + 1e-8)  # d log(L + 1e-8) / dL
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 0.0))
        norms *= inverse
        step = tf.cast(self.iterations + 1, tf.float64)
        beta = self.beta / step**self.beta_sigma
        ema = norms + beta * (tf.convert_to_tensor(self.norm_ema) - norms)
        if training is not False:
            self.norm_ema.assign(ema)
        alpha = tf.reduce_max(ema) / (ema + 1e-8)
        # m_i is taken as the current log-loss gradient scaled to length
        # ema_i: w_i = alpha_i (ema_i / n_i) / L_i.
        weights = alpha * tf.math.divide_no_nan(ema, norms) * inverse
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, beta_sigma=self.beta_sigma)
        return config
