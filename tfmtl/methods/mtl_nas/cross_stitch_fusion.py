"""Cross-stitch fusion: a learned scalar weight per fused tensor."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods.mtl_nas.fusion import Fusion


@keras.saving.register_keras_serializable(package="tfmtl")
class CrossStitchFusion(Fusion):
    """Weighted sum of a task's own features and incoming features.

    `out = a_0 * x_own + a_1 * y_1 + ... + a_k * y_k` with one learned
    scalar per input and no normalisation or activation: the cross-stitch
    unit (Misra et al.) used as the fusion-op ablation of NDDR-CNN and
    MTL-NAS in place of `NDDRFusion`'s 1x1 convolution. With
    `init_weights=(w_self, w_other)` the scalars start at `w_self` (own) and
    `w_other / k` (each incoming tensor), as the 1x1 convolution's identity
    blocks do.

    Args:
        num_inputs: int, number of fused tensors (own + incoming, >= 1).
        init_weights: `(w_self, w_other)`, or None for `1 / num_inputs`
            each.
        **kwargs: base layer arguments (`name`, `dtype`, ...); the
            `NDDRFusion` arguments `kernel_initializer`, `norm_momentum`,
            `norm_epsilon` and `activation` are accepted and ignored, so the
            two ops are interchangeable.

    Call arguments:
        inputs: list of `num_inputs` float tensors of one shape; the first
            is the task's own features.
        training: unused.

    Example:

    >>> fusion = CrossStitchFusion(2, init_weights=(0.9, 0.1))
    >>> x = keras.ops.ones((1, 2, 2, 4))
    >>> round(float(fusion([x, 3 * x])[0, 0, 0, 0]), 4)  # 0.9 + 0.1 * 3
    1.2

    Reference:
        - [Misra et al., "Cross-stitch Networks for Multi-task Learning",
          CVPR 2016](https://arxiv.org/abs/1604.03539)
        - [Gao et al., 2020](https://arxiv.org/abs/2003.14058) (ablation)
    """

    def __init__(self, num_inputs, init_weights=(0.9, 0.1), **kwargs):
        for unused in (
            "kernel_initializer",
            "norm_momentum",
            "norm_epsilon",
            "activation",
        ):
            kwargs.pop(unused, None)
        super().__init__(num_inputs, init_weights, **kwargs)

    def _initial(self):
        if self.init_weights is None:
            return np.full(self.num_inputs, 1.0 / self.num_inputs, np.float32)
        w_self, w_other = self.init_weights
        k = self.num_inputs - 1
        return np.array([w_self] + [w_other / max(k, 1)] * k, np.float32)

    def build(self, input_shape):
        initial = self._initial()
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_inputs,),
            initializer=lambda shape, dtype=None: tf.cast(
                initial, dtype or "float32"
            ),
        )
        self.built = True

    def call(self, inputs, training=None):
        del training
        self._check_inputs(inputs)
        weights = tf.cast(self.kernel, inputs[0].dtype)
        return tf.add_n([weights[i] * x for i, x in enumerate(inputs)])
