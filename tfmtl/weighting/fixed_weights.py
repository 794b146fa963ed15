"""Constant task weights (AdaShare's `lambdas`, NDDR-CNN's normals x20)."""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting


@keras.saving.register_keras_serializable(package="tfmtl")
class FixedWeights(Weighting):
    """Returns `sum_i w_i L_i` with constant weights.

    Args:
        weights: sequence of floats, one per task in the run's task order
            (None: all 1, the same as `EW`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None.

    Example:
    ```python
    weighting = FixedWeights([1.0, 20.0])
    weighting.build(2)
    weighting(tf.constant([1.0, 2.0]))  # 41.0
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (the yaml `lambdas`).
    """

    def __init__(self, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.weights_list = (
            None if weights is None else [float(w) for w in weights]
        )

    def build(self, num_tasks):
        super().build(num_tasks)
        if self.weights_list is None:
            self.weights_list = [1.0] * self.num_tasks
        if len(self.weights_list) != self.num_tasks:
            raise ValueError(
                f"FixedWeights has {len(self.weights_list)} weights for "
                f"{self.num_tasks} tasks."
            )

    def call(self, losses, gramian=None, training=None):
        del gramian
        return self.combine(
            tf.constant(self.weights_list, tf.float32), losses, training
        )

    def get_config(self):
        config = super().get_config()
        config["weights"] = (
            None if self.weights_list is None else list(self.weights_list)
        )
        return config
