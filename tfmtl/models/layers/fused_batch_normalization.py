"""Batch normalisation through TensorFlow's fused kernel."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfmtl")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by one fused kernel.

    Keras 3's batch norm casts bfloat16 / float16 activations to float32,
    computes the moments and the normalisation from separate ops and casts
    back, in every layer, forward and backward. TensorFlow's
    `FusedBatchNormV3` takes the activations in their own dtype (with
    float32 statistics, scale and offset), and its gradient is one fused op
    too, which oneDNN and cuDNN implement for bfloat16.

    Same variables (names, shapes, dtypes), arguments and statistics as
    the Keras layer, so checkpoints move between the two: the moving
    variance is updated with the biased batch variance, as Keras does (the
    kernel reports the Bessel-corrected one, which is rescaled by
    (n - 1) / n). The fused kernel is used for 4-D inputs normalised over
    the last axis, without a mask, renormalisation or cross-replica
    statistics; any other call runs the Keras computation.

    Args:
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Call arguments:
        inputs: float tensor [B, H, W, C] (any rank falls back to Keras).
        training: bool, use the batch statistics and update the moving
            ones.
        mask: optional mask (falls back to Keras).

    Example:
    >>> layer = FusedBatchNormalization()
    >>> layer(keras.ops.ones((2, 4, 4, 8)), training=True).shape
    TensorShape([2, 4, 4, 8])

    Reference:
        - [Ioffe and Szegedy, 2015](https://arxiv.org/abs/1502.03167)
    """

    def _fusable(self, inputs, mask):
        return (
            mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.synchronized
            and not getattr(self, "renorm", False)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = (
            self.gamma.value if self.scale else tf.ones([channels], "float32")
        )
        offset = (
            self.beta.value if self.center else tf.zeros([channels], "float32")
        )
        moving_mean = self.moving_mean.value
        moving_variance = self.moving_variance.value
        x = tf.cast(inputs, self.compute_dtype)
        if not (training and self.trainable):
            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x,
                scale=scale,
                offset=offset,
                mean=moving_mean,
                variance=moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
            return y
        y, mean, corrected, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=scale,
            offset=offset,
            mean=tf.zeros_like(moving_mean),
            variance=tf.ones_like(moving_variance),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        shape = tf.shape(x)
        count = tf.cast(shape[0] * shape[1] * shape[2], "float32")
        variance = corrected * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(
            moving_mean * momentum + tf.stop_gradient(mean) * (1.0 - momentum)
        )
        self.moving_variance.assign(
            moving_variance * momentum
            + tf.stop_gradient(variance) * (1.0 - momentum)
        )
        return y
