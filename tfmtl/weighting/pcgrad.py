"""PCGrad: project each task gradient off the gradients it conflicts with.

Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task
Learning", NeurIPS 2020 (arXiv:2001.06782), Algorithm 1. Reference
implementations checked against: LibMTL ``LibMTL/weighting/PCGrad.py`` and
torchjd ``PCGradWeighting`` (Gramian form).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.weighting import default_seed


def random_orders(num_tasks, seed):
    """One random permutation of range(K) per task: int32 [K, K]."""
    noise = tf.random.stateless_uniform([num_tasks, num_tasks], seed=seed)
    return tf.cast(tf.argsort(noise, axis=1), tf.int32)


@keras.saving.register_keras_serializable(package="tfmtl")
class PCGrad(GramianWeighting):
    """Coefficients of the sum of the surgically projected task gradients.

    Gramian derivation: write the projected gradient of task i as
    ``g_i^PC = sum_k C_ik g_k`` (row i of C starts as e_i). Visiting the
    other tasks j != i in a random order (the paper's Algorithm 1), PCGrad
    sets
    ``g_i^PC -= min(0, g_i^PC . g_j) / ||g_j||^2 g_j``, always against the
    *original* g_j. Since ``g_i^PC . g_j = (C G)_ij`` and
    ``||g_j||^2 = G_jj``, the update is ``C_ij -= min(0, (C G)_ij) / G_jj``:
    inner products suffice. The combined gradient ``sum_i g_i^PC`` has
    coefficients ``w = 1^T C`` (column sums). All rows are processed in
    parallel, each with its own order. Visiting j = i is *not* a no-op:
    after earlier projections ``g_i^PC . g_i`` can be negative, and g_i
    would then be projected off itself.

    # compat: LibMTL ``PCGrad.backward`` loops over all j including j = i
    # (torchjd ``PCGradWeighting`` and the paper skip it); set
    # ``include_self=True`` for LibMTL's rule.

    # compat: LibMTL and the paper leave the task-specific heads with the
    # plain sum of task gradients; here the heads receive ``w_i grad L_i``
    # like the shared part (the only form expressible as loss weights).

    Args:
        gradients: ``"parameters"`` (paper; LibMTL refuses
            representation gradients) or ``"representation"``.
        shuffle: random order per task per call (paper). False uses the task
            order (what the TAG CelebA notebook effectively does).
        seed: Python int for the order; None draws one at construction.
        include_self: also visit j = i (LibMTL); default False (paper).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    pcgrad = PCGrad()
    pcgrad.build(2)
    gram = tf.constant([[1.0, -1.0], [-1.0, 2.0]])
    pcgrad(tf.constant([1.0, 1.0]), gramian=gram)  # w = (2, 1.5)
    ```

    Reference:
        Yu et al., NeurIPS 2020, arXiv:2001.06782.
    """

    default_gradients = "parameters"
    deterministic = False

    def __init__(
        self,
        gradients="parameters",
        shuffle=True,
        seed=None,
        include_self=False,
        **kwargs,
    ):
        super().__init__(gradients=gradients, **kwargs)
        self.shuffle = shuffle
        self.seed_value = default_seed(seed)
        self.include_self = include_self

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        k = self.num_tasks
        if self.shuffle:
            orders = random_orders(k, self.seed(self.seed_value))
        else:
            orders = tf.tile(tf.range(k)[None], [k, 1])
        squared_norms = tf.linalg.diag_part(gramian)
        coefficients = tf.eye(k, dtype=tf.float64)
        rows = tf.range(k)
        for position in range(k):  # static K: unrolled
            j = orders[:, position]  # [K], task visited by each row
            dots = tf.reduce_sum(coefficients * tf.gather(gramian, j), 1)
            step = tf.math.divide_no_nan(
                tf.minimum(dots, 0.0), tf.gather(squared_norms, j)
            )
            if not self.include_self:
                step = tf.where(tf.equal(j, rows), tf.zeros_like(step), step)
            coefficients -= step[:, None] * tf.one_hot(j, k, dtype=tf.float64)
        weights = tf.reduce_sum(coefficients, axis=0)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            shuffle=self.shuffle,
            seed=self.seed_value,
            include_self=self.include_self,
        )
        return config
