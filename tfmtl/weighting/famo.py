"""FAMO: Fast Adaptive Multitask Optimization.

Liu, Liang, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization",
NeurIPS 2023 (arXiv:2306.03792), Algorithm 1. Reference implementations
checked against: Cranial-XIX/FAMO ``experiments/methods/weight_methods.py``
and LibMTL ``LibMTL/weighting/FAMO.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class FAMO(Weighting):
    """Loss weights ``w_i = z_i / (c L_i)``, ``z = softmax(xi)``.

    FAMO minimises ``sum_i z_i log L_i`` (normalised by ``c = sum_j z_j /
    L_j``); its gradient is ``sum_i w_i grad L_i`` with the weights above
    (summing to 1), so the layer returns ``sum_i stop_gradient(w_i) L_i``.

    The logits ``xi`` (non-trainable; updated by the layer itself) follow
    Adam (learning rate ``learning_rate``, L2 decay ``gamma`` as in torch's
    Adam ``weight_decay``) on the gradient
    ``d/dxi [softmax(xi) . delta]``, where ``delta_i = log L_i(prev) -
    log L_i(now)`` is the log-decrease of each task's loss.

    # compat: the original updates ``xi`` right after the model step with an
    # extra forward pass on the *same* batch (``delta`` = before/after the
    # step). We use no extra pass: at call t the update uses the losses of
    # calls t-1 and t (consecutive batches, both measured before their step),
    # then the weights are computed with the updated logits. ``delta`` is thus
    # noisier (batch-to-batch variation) but free. Losses are clamped at
    # 1e-8 before the log, and the minimum losses are taken as 0 (as in the
    # reference when they are unknown).

    Args:
        learning_rate: Adam learning rate of the logits (paper: 0.025).
        gamma: L2 decay of the logits (paper: 1e-3).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica (must be > 0).
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    famo = FAMO()
    famo.build(2)
    famo(tf.constant([1.0, 2.0]))  # weights (2/3, 1/3) at the start
    ```

    Reference:
        Liu et al., NeurIPS 2023, arXiv:2306.03792.
    """

    def __init__(self, learning_rate=0.025, gamma=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate = learning_rate
        self.gamma = gamma

    def build(self, num_tasks):
        super().build(num_tasks)
        self.logits = self.state_variable("logits", "zeros")
        self.previous_losses = self.state_variable("previous_losses", "ones")
        self.adam_m = self.state_variable("adam_m", "zeros")
        self.adam_v = self.state_variable("adam_v", "zeros")

    def _adam(self, grad, step):
        beta1, beta2 = 0.9, 0.999
        logits = tf.convert_to_tensor(self.logits)
        grad = grad + self.gamma * logits
        m = beta1 * self.adam_m + (1.0 - beta1) * grad
        v = beta2 * self.adam_v + (1.0 - beta2) * grad**2
        m_hat = m / (1.0 - beta1**step)
        v_hat = v / (1.0 - beta2**step)
        return (
            logits - self.learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8),
            m,
            v,
        )

    def call(self, losses, gramian=None, training=None):
        del gramian
        log_now = tf.math.log(
            tf.maximum(tf.stop_gradient(global_losses(losses)), 1e-8)
        )
        step = tf.cast(self.iterations, tf.float32)
        logits = tf.convert_to_tensor(self.logits)
        if training is not False:
            z = tf.nn.softmax(logits)
            delta = tf.math.log(tf.maximum(self.previous_losses, 1e-8))
            delta -= log_now
            # Softmax Jacobian-vector product: z * (delta - z . delta).
            grad = z * (delta - tf.reduce_sum(z * delta))
            new, m, v = self._adam(grad, tf.maximum(step, 1.0))
            has_previous = step > 0
            logits = tf.where(has_previous, new, logits)
            self.logits.assign(logits)
            self.adam_m.assign(tf.where(has_previous, m, self.adam_m))
            self.adam_v.assign(tf.where(has_previous, v, self.adam_v))
            self.previous_losses.assign(tf.exp(log_now))
        z = tf.nn.softmax(logits)
        weights = z / tf.exp(log_now)
        weights /= tf.reduce_sum(weights)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(learning_rate=self.learning_rate, gamma=self.gamma)
        return config
