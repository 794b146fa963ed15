"""GradVac: gradient vaccine, aligning task gradients to an EMA similarity.

Wang, Tsvetkov, Firat & Cao, "Gradient Vaccine: Investigating and Improving
Multi-task Optimization in Massively Multilingual Models", ICLR 2021
(arXiv:2010.05874), Algorithm 2. Reference implementation checked against:
LibMTL ``LibMTL/weighting/GradVac.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.pcgrad import random_orders
from tfmtl.weighting.weighting import default_seed


@keras.saving.register_keras_serializable(package="tfmtl")
class GradVac(GramianWeighting):
    """PCGrad-like surgery towards an EMA target cosine similarity.

    For each task i and each other task j (random order), with
    ``phi = cos(g_i^GV, g_j)`` and target ``phi_hat_ij``: if
    ``phi < phi_hat`` then
    ``g_i^GV += ||g_i^GV|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 -
    phi_hat^2)) / (||g_j|| sqrt(1 - phi_hat^2)) g_j``; then
    ``phi_hat_ij <- (1 - beta) phi_hat_ij + beta phi`` (every visit, as in
    the paper's algorithm). With targets 0 this is PCGrad's projection.

    Gramian derivation: with ``g_i^GV = sum_k C_ik g_k``,
    ``||g_i^GV||^2 = (C G C^T)_ii``, ``g_i^GV . g_j = (C G)_ij`` and
    ``||g_j||^2 = G_jj``; the update adds the scalar above to ``C_ij``. The
    combined gradient ``sum_i g_i^GV`` has coefficients ``1^T C``. Rows are
    processed in parallel (each pair (i, j) is visited once per call, so the
    targets are updated exactly as in the sequential loop).

    # compat: as for PCGrad, the heads receive ``w_i grad L_i``. Only the
    # whole-model granularity (LibMTL ``GradVac_group_type 0``) is available:
    # per-layer groups would need one Gramian per group.

    Args:
        beta: EMA rate of the targets (paper: 1e-2; LibMTL CLI default 0.5).
        gradients: ``"parameters"`` (paper; LibMTL refuses representation
            gradients) or ``"representation"``.
        shuffle: random order per task per call (paper).
        seed: Python int for the order; None draws one at construction.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    gradvac = GradVac()
    gradvac.build(2)
    gradvac(tf.constant([1.0, 1.0]), gramian=tf.eye(2))
    ```

    Reference:
        Wang et al., ICLR 2021, arXiv:2010.05874.
    """

    default_gradients = "parameters"
    deterministic = False

    def __init__(
        self,
        beta=0.01,
        gradients="parameters",
        shuffle=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(gradients=gradients, **kwargs)
        self.beta = beta
        self.shuffle = shuffle
        self.seed_value = default_seed(seed)

    def build(self, num_tasks):
        super().build(num_tasks)
        self.targets = self.state_variable(
            "targets", "zeros", shape=(self.num_tasks, self.num_tasks)
        )

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        k = self.num_tasks
        if self.shuffle:
            orders = random_orders(k, self.seed(self.seed_value))
        else:
            orders = tf.tile(tf.range(k)[None], [k, 1])
        rows = tf.range(k)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 0.0))
        targets = tf.cast(self.targets, tf.float64)
        coefficients = tf.eye(k, dtype=tf.float64)
        for position in range(k):  # static K: unrolled
            j = orders[:, position]
            active = tf.not_equal(j, rows)
            pair = tf.stack([rows, j], axis=1)
            target = tf.gather_nd(targets, pair)
            own = tf.reduce_sum(
                coefficients * tf.linalg.matmul(coefficients, gramian), 1
            )
            own_norm = tf.sqrt(tf.maximum(own, 0.0))
            other_norm = tf.gather(norms, j)
            dots = tf.reduce_sum(coefficients * tf.gather(gramian, j), 1)
            cosine = tf.math.divide_no_nan(dots, own_norm * other_norm)
            cosine = tf.clip_by_value(cosine, -1.0, 1.0)
            sin_target = tf.sqrt(tf.maximum(1.0 - target**2, 1e-12))
            sin_phi = tf.sqrt(tf.maximum(1.0 - cosine**2, 0.0))
            step = tf.math.divide_no_nan(
                own_norm * (target * sin_phi - cosine * sin_target),
                other_norm * sin_target,
            )
            step = tf.where(active & (cosine < target), step, 0.0)
            coefficients += step[:, None] * tf.one_hot(j, k, dtype=tf.float64)
            updated = (1.0 - self.beta) * target + self.beta * cosine
            targets = tf.tensor_scatter_nd_update(
                targets, pair, tf.where(active, updated, target)
            )
        if training is not False:
            self.targets.assign(tf.cast(targets, tf.float32))
        weights = tf.reduce_sum(coefficients, axis=0)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            beta=self.beta,
            shuffle=self.shuffle,
            seed=self.seed_value,
        )
        return config
