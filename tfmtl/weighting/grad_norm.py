"""GradNorm: learn loss weights that balance the task gradient norms.

Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization
for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018
(arXiv:1711.02257). Reference implementations checked against: LibMTL
``LibMTL/weighting/GradNorm.py`` and the TAG CelebA notebook (TF2).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.weighting import global_losses, num_replicas


@keras.saving.register_keras_serializable(package="tfmtl")
class GradNorm(GramianWeighting):
    """Trainable weights ``w`` moved only by the GradNorm loss.

    With ``n_i = ||g_i|| = sqrt(G_ii)`` from the Gramian diagonal, the
    weighted norms are ``G_i^W = w_i n_i``, their mean ``Gbar``, the inverse
    training rates ``r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))`` and the
    GradNorm loss ``L_grad = sum_i |w_i n_i - stop(Gbar r_i^alpha)|``.
    The returned scalar is

        sum_i stop(w_i) L_i + (L_grad - stop(L_grad)) / R

    Its value is the weighted loss; the network sees only
    ``sum_i w_i grad L_i`` (``w`` is stopped in the first term and the second
    term holds no network tensor: the Gramian and the loss values inside it
    are stopped); ``w`` sees only ``grad_w L_grad`` (the first term is
    constant in ``w``). ``R`` is the number of replicas, so the summed replica
    gradients count ``L_grad`` once. After every optimizer step the paper
    renormalises ``w`` to sum to K; we do it lazily at the start of the next
    call (the weights used and logged always sum to K).

    # compat: the paper takes the norms w.r.t. the last shared layer; here
    # they come from the trainer's Gramian (all shared parameters, as in
    # LibMTL, or the representation). L_i(0) is the first call's loss (paper;
    # LibMTL uses the epoch-0 mean, TAG the first batch). Weights are clipped
    # below at 1e-3 before renormalising so that they stay positive.

    Args:
        alpha: asymmetry alpha (paper/LibMTL default 1.5).
        gradients: ``"parameters"`` (default, closest to the paper's shared
            weights) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    gradnorm = GradNorm()
    gradnorm.build(2)
    gradnorm(tf.constant([1.0, 2.0]), gramian=tf.eye(2))
    ```

    Reference:
        Chen et al., ICML 2018, arXiv:1711.02257.
    """

    default_gradients = "parameters"

    def __init__(self, alpha=1.5, gradients="parameters", **kwargs):
        super().__init__(gradients=gradients, **kwargs)
        self.alpha = alpha

    def build(self, num_tasks):
        super().build(num_tasks)
        self.loss_weights = self.add_weight(
            name="loss_weights",
            shape=(self.num_tasks,),
            initializer="ones",
            trainable=True,
            aggregation="only_first_replica",
        )
        self.initial_losses = self.state_variable("initial_losses", "ones")

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        current = tf.stop_gradient(global_losses(losses))
        if training is not False:
            positive = tf.maximum(self.loss_weights, 1e-3)
            self.loss_weights.assign(
                self.num_tasks * positive / tf.reduce_sum(positive)
            )
            first = tf.equal(self.iterations, 0)
            self.initial_losses.assign(
                tf.where(first, current, self.initial_losses)
            )
        w = tf.convert_to_tensor(self.loss_weights)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 0.0))
        norms = tf.cast(norms, tf.float32)  # w is a float32 variable
        weighted_norms = w * norms
        mean_norm = tf.reduce_mean(weighted_norms)
        rates = tf.math.divide_no_nan(current, self.initial_losses)
        rates = tf.math.divide_no_nan(rates, tf.reduce_mean(rates))
        target = tf.stop_gradient(mean_norm * rates**self.alpha)
        gradnorm_loss = tf.reduce_sum(tf.abs(weighted_norms - target))
        extra = (gradnorm_loss - tf.stop_gradient(gradnorm_loss)) / (
            num_replicas()
        )
        return self.combine(w, losses, training, extra=extra)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha)
        return config
