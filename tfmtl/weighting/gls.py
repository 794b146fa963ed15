"""GLS: the geometric loss strategy.

Chennupati, Sistu, Yogamani & Rawashdeh, "MultiNet++: Multi-Stream Feature
Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR 2019
Workshops (WAD). Reference implementation checked
against: LibMTL ``LibMTL/weighting/GLS.py`` (``GLS.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class GLS(Weighting):
    """Minimises the geometric mean ``(prod_i L_i)^(1/K)`` of the losses.

    Reads only the losses. The gradient of the geometric mean ``M`` is
    ``sum_i M / (K L_i) grad L_i``, so the layer returns
    ``sum_i stop_gradient(w_i) L_i`` with ``w_i = M / (K L_i)`` (its value is
    ``M`` as well). ``M`` is computed as ``exp(mean(log L))`` from the
    all-reduced losses, which avoids the overflow of the product for large
    K. No hyperparameters.

    # compat: LibMTL returns ``L / (K prod L)`` as the logged weights; those
    # are not the coefficients of its gradient. We log the coefficients
    # ``M / (K L_i)``. Losses are clamped at 1e-20 before the log.

    Args:
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica (must be > 0).
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    gls = GLS()
    gls.build(2)
    gls(tf.constant([1.0, 4.0]))  # 2.0; weights (1.0, 0.25)
    ```

    Reference:
        Chennupati et al., CVPR 2019 Workshops (WAD).
    """

    def call(self, losses, gramian=None, training=None):
        del gramian
        current = tf.cast(tf.stop_gradient(global_losses(losses)), tf.float64)
        log_losses = tf.math.log(tf.maximum(current, 1e-20))
        mean = tf.exp(tf.reduce_mean(log_losses))
        weights = mean / (self.num_tasks * tf.exp(log_losses))
        return self.combine(weights, losses, training)
