"""Random loss weighting: softmax of standard-normal samples every step.

Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus Test for
Multi-Task Learning", TMLR 2022 (arXiv:2111.10603). Reference implementation
checked against: LibMTL ``LibMTL/weighting/RLW.py`` (weights
``softmax(randn(K))``, summing to 1).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, default_seed


@keras.saving.register_keras_serializable(package="tfmtl")
class RLW(Weighting):
    """Random weights ``w = softmax(e)``, ``e ~ N(0, I_K)``, drawn per call.

    The draw is stateless, keyed by (``seed``, call counter), so every
    replica uses the same weights.

    Args:
        seed: Python int; None draws one at construction (reproducible under
            `keras.utils.set_random_seed`; pass it explicitly for
            multi-worker runs).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    rlw = RLW(seed=1)
    rlw.build(3)
    rlw(tf.constant([1.0, 2.0, 3.0]))
    ```

    Reference:
        Lin et al., TMLR 2022, arXiv:2111.10603.
    """

    deterministic = False

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_value = default_seed(seed)

    def call(self, losses, gramian=None, training=None):
        del gramian
        sample = tf.random.stateless_normal(
            [self.num_tasks], seed=self.seed(self.seed_value)
        )
        return self.combine(tf.nn.softmax(sample), losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed_value)
        return config
