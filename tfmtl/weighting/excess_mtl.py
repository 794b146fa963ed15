"""ExcessMTL: task weights from estimated excess risks.

He et al., "Robust Multi-Task Learning with Excess Risks", ICML 2024
(https://openreview.net/forum?id=JzWFmMySpn), Algorithm 1. Reference
implementations checked against: yifei-he/ExcessMTL and LibMTL
``LibMTL/weighting/ExcessMTL.py`` (``ExcessMTL.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting


@keras.saving.register_keras_serializable(package="tfmtl")
class ExcessMTL(GramianWeighting):
    """Exponentiated-gradient weights on AdaGrad-scaled gradient norms.

    The excess risk of task i is estimated by ``r_i = g_i^T H_i^-1 g_i``
    with ``H_i`` the AdaGrad preconditioner of its gradients
    (``sqrt(sum_t g_t^2)``). The first call stores ``r^0``; every later
    call multiplies the loss weights by ``exp(step_size r_i / r^0_i)`` and
    renormalises them to sum to K. Weights start at 1.

    # compat: the reference's ``H_i`` is diagonal, per coordinate
    # (per-parameter state, a D-vector per task), which a K x K Gramian
    # cannot supply. We use the scalar AdaGrad preconditioner
    # ``sqrt(sum_t ||g_i,t||^2)`` instead: ``r_i = ||g_i||^2 /
    # sqrt(sum_t ||g_i,t||^2 + 1e-7)``. The ratios ``r_i / r^0_i`` (the
    # only way ``r`` enters) then equal the reference's whenever every
    # task's gradient direction is the same across steps, or the gradient
    # coordinates have equal magnitudes.

    Reads the parameter Gramian by default (the paper's shared parameters;
    LibMTL accepts both); ``gradients="representation"`` switches sources.

    Args:
        step_size: exponentiated-gradient step (LibMTL ``robust_step_size``,
            default 1e-2).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    excess = ExcessMTL()
    excess.build(2)
    excess(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights (1, 1)
    ```

    Reference:
        He et al., ICML 2024, https://openreview.net/forum?id=JzWFmMySpn.
    """

    default_gradients = "parameters"

    def __init__(self, step_size=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.step_size = float(step_size)

    def build(self, num_tasks):
        super().build(num_tasks)
        self.squared_sum = self.state_variable(
            "squared_sum", "zeros", dtype="float64"
        )
        self.initial_risk = self.state_variable(
            "initial_risk", "ones", dtype="float64"
        )
        self.loss_weights = self.state_variable(
            "loss_weights", "ones", dtype="float64"
        )

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        squared = tf.maximum(tf.linalg.diag_part(gramian), 0.0)
        squared_sum = self.squared_sum + squared
        risk = squared / tf.sqrt(squared_sum + 1e-7)
        first = tf.equal(self.iterations, 0)
        initial = tf.where(first, risk, self.initial_risk)
        weights = tf.convert_to_tensor(self.loss_weights)
        updated = weights * tf.exp(
            self.step_size * tf.math.divide_no_nan(risk, initial)
        )
        updated = updated / tf.reduce_sum(updated) * self.num_tasks
        weights = tf.where(first, weights, updated)
        if training is not False:
            self.squared_sum.assign(squared_sum)
            self.initial_risk.assign(initial)
            self.loss_weights.assign(weights)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(step_size=self.step_size)
        return config
