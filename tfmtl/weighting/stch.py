"""STCH: smooth Tchebycheff scalarisation.

Lin et al., "Smooth Tchebycheff Scalarization for Multi-Objective
Optimization", ICML 2024 (https://openreview.net/forum?id=m4dO5L6eCp).
Reference implementations checked against: Xi-L/STCH ``STCH_MTL`` and LibMTL
``LibMTL/weighting/STCH.py`` (``STCH.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class STCH(Weighting):
    """``K mu logsumexp(log(L / z) / mu)`` after a ``log L`` warm-up.

    Reads only the losses. During epochs 0 to ``warmup_epochs`` (as LibMTL,
    one more than the count) the objective is ``sum_i log L_i`` (weights
    ``1 / L_i``); the mean losses of epoch ``warmup_epochs`` become the
    nadir point ``z``. From epoch ``warmup_epochs + 1`` on the
    objective is ``K mu log sum_i exp(l_i / mu)``, ``l_i = log(L_i / z_i)``,
    whose gradient is ``sum_i K softmax(l / mu)_i grad L_i / L_i``; the layer
    returns ``sum_i stop_gradient(w_i) L_i`` with those coefficients. Epochs
    are counted in calls, as in `DWA`.

    # compat: the reference adds 1e-20 inside the logs; we clamp the losses
    # at 1e-20 instead (the same for any loss above 1e-18).

    Args:
        mu: smoothing parameter (LibMTL default 1.0; small ``mu`` approaches
            the Tchebycheff max).
        warmup_epochs: index of the epoch whose mean losses give the nadir
            point (LibMTL ``STCH_warmup_epoch``, default 4).
        epoch_length: number of calls (training steps) per epoch.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica (must be > 0).
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    stch = STCH(warmup_epochs=0, epoch_length=10)
    stch.build(2)
    stch(tf.constant([1.0, 4.0]))
    ```

    Reference:
        Lin et al., ICML 2024, https://openreview.net/forum?id=m4dO5L6eCp.
    """

    def __init__(self, mu=1.0, warmup_epochs=4, epoch_length=100, **kwargs):
        super().__init__(**kwargs)
        if epoch_length < 1:
            raise ValueError(f"epoch_length must be >= 1, got {epoch_length}")
        if mu <= 0:
            raise ValueError(f"mu must be > 0, got {mu}")
        self.mu = mu
        self.warmup_epochs = warmup_epochs
        self.epoch_length = epoch_length

    def build(self, num_tasks):
        super().build(num_tasks)
        self.loss_sum = self.state_variable("loss_sum", "zeros")
        self.loss_count = self.state_variable("loss_count", "zeros", shape=())

    def call(self, losses, gramian=None, training=None):
        del gramian
        current = tf.cast(tf.stop_gradient(global_losses(losses)), tf.float64)
        current = tf.maximum(current, 1e-20)
        epoch = self.iterations.value // self.epoch_length
        in_warmup = epoch <= self.warmup_epochs
        last_warmup = tf.equal(epoch, self.warmup_epochs)
        count = tf.cast(self.loss_count, tf.float64)
        nadir = tf.cast(self.loss_sum, tf.float64) / tf.maximum(count, 1.0)
        nadir = tf.where(count > 0, nadir, tf.ones_like(nadir))
        scaled = tf.math.log(current / nadir) / self.mu
        stch = self.num_tasks * tf.nn.softmax(scaled) / current
        weights = tf.where(in_warmup, 1.0 / current, stch)
        if training is not False:
            add = tf.cast(last_warmup, tf.float32)
            self.loss_sum.assign_add(add * tf.cast(current, tf.float32))
            self.loss_count.assign_add(add)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            mu=self.mu,
            warmup_epochs=self.warmup_epochs,
            epoch_length=self.epoch_length,
        )
        return config
