"""Dynamic Weight Average: weights from the rate of change of epoch losses.

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
CVPR 2019 (arXiv:1803.10704), Eq. 7. Reference implementations checked
against: lorenmt/mtan ``utils.py`` and LibMTL ``LibMTL/weighting/DWA.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class DWA(Weighting):
    """``w_i = K softmax(r / T)_i`` with ``r_i = Lbar_i(e-1) / Lbar_i(e-2)``.

    ``Lbar_i(e)`` is the mean training loss of task i over epoch e. The caller
    passes nothing extra: the layer accumulates the (all-reduced) losses of
    every call and closes an epoch every ``epoch_length`` calls. Weights are
    1 during the first two epochs and constant within an epoch.

    Args:
        temperature: softmax temperature T (paper: 2).
        epoch_length: number of calls (training steps) per epoch; set it to
            the steps per epoch of the training set.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    dwa = DWA(epoch_length=500)
    dwa.build(3)
    dwa(tf.constant([1.0, 2.0, 3.0]))  # weights 1 in epochs 0 and 1
    ```

    Reference:
        Liu et al., CVPR 2019, arXiv:1803.10704.
    """

    def __init__(self, temperature=2.0, epoch_length=100, **kwargs):
        super().__init__(**kwargs)
        if epoch_length < 1:
            raise ValueError(f"epoch_length must be >= 1, got {epoch_length}")
        self.temperature = temperature
        self.epoch_length = epoch_length

    def build(self, num_tasks):
        super().build(num_tasks)
        self.loss_sum = self.state_variable("loss_sum", "zeros")
        self.last_epoch_loss = self.state_variable("last_epoch_loss", "ones")
        self.previous_epoch_loss = self.state_variable(
            "previous_epoch_loss", "ones"
        )
        self.epochs = self.state_variable(
            "epochs", "zeros", shape=(), dtype="int64"
        )

    def call(self, losses, gramian=None, training=None):
        del gramian
        current = tf.stop_gradient(global_losses(losses))
        step = self.iterations.value
        boundary = tf.logical_and(step > 0, step % self.epoch_length == 0)
        last = tf.convert_to_tensor(self.last_epoch_loss)
        previous = tf.where(boundary, last, self.previous_epoch_loss)
        last = tf.where(boundary, self.loss_sum / self.epoch_length, last)
        epochs = self.epochs + tf.cast(boundary, tf.int64)
        ratio = tf.math.divide_no_nan(last, previous)
        weights = tf.where(
            epochs >= 2,
            self.num_tasks * tf.nn.softmax(ratio / self.temperature),
            tf.ones([self.num_tasks]),
        )
        if training is not False:
            loss_sum = tf.where(boundary, 0.0, self.loss_sum)
            self.loss_sum.assign(loss_sum + current)
            self.last_epoch_loss.assign(last)
            self.previous_epoch_loss.assign(previous)
            self.epochs.assign(epochs)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            temperature=self.temperature, epoch_length=self.epoch_length
        )
        return config
