"""Equal weighting: the plain sum of the task losses (linear scalarisation).

Reference implementation checked against: LibMTL ``LibMTL/weighting/EW.py``
(``losses.sum()``, i.e. every weight is 1).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting


@keras.saving.register_keras_serializable(package="tfmtl")
class EW(Weighting):
    """Equal weights: returns ``sum_i L_i``.

    Args:
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    ew = EW()
    ew.build(2)
    ew(tf.constant([1.0, 2.0]))  # 3.0
    ```

    Reference:
        The linear-scalarisation baseline of every MTL comparison, e.g.
        Kurin et al., "In Defense of the Unitary Scalarization for Deep
        Multi-Task Learning", NeurIPS 2022 (arXiv:2201.04122).
    """

    supports_task_subsets = True

    def call(self, losses, gramian=None, training=None):
        del gramian
        return self.combine(tf.ones([self.num_tasks]), losses, training)
