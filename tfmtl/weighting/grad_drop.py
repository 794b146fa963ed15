"""GradDrop: gradient sign dropout.

Chen, Ngiam, Huang, Luong, Kretzschmar, Chai & Anguelov, "Just Pick a Sign:
Optimizing Deep Multitask Models with Gradient Sign Dropout", NeurIPS 2020
(arXiv:2010.06808), Algorithm 1. Reference implementation checked against:
LibMTL ``LibMTL/weighting/GradDrop.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, default_seed


@keras.saving.register_keras_serializable(package="tfmtl")
class GradDrop(Weighting):
    """Keeps, per coordinate, only the task gradients of one random sign.

    Per coordinate, the positive sign purity is
    ``P = (1 + sum_i g_i / sum_i |g_i|) / 2``; with ``U ~ Uniform(0, 1)``
    shared by the tasks, task i keeps its gradient if it is positive and
    ``P > U`` or negative and ``P < U``. The combined gradient is
    ``sum_i (leak + (1 - leak) M_i) g_i``. This is a per-coordinate mask, not
    a linear combination of whole task gradients, so it is implemented in
    ``transform_gradients`` (``needs_per_task_gradients = True``), which the
    trainer calls with the per-task gradients of the tensors where GradDrop
    acts. ``call`` returns the plain sum of losses (and logs weights 1): use
    it for the value and for the parts the trainer does not transform.

    # compat: the paper (and LibMTL, which requires ``rep_grad``) applies the
    # mask to the gradients w.r.t. the shared activations, multiplying them
    # by the sign of the activations and summing over the batch before
    # computing P; this class applies the rule elementwise to the per-task
    # gradients of the shared variables (whose global values every replica
    # can form), with the same draw on every replica.

    Args:
        leak: fraction of every task gradient always kept (LibMTL: 0).
        seed: Python int for the draws; None draws one at construction.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    drop = GradDrop(seed=0)
    drop.build(2)
    total = drop(tf.constant([1.0, 2.0]))  # 3.0
    grads = drop.transform_gradients([[tf.ones([3])], [-tf.ones([3])]])
    ```

    Reference:
        Chen et al., NeurIPS 2020, arXiv:2010.06808.
    """

    needs_per_task_gradients = True
    deterministic = False

    def __init__(self, leak=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.leak = leak
        self.seed_value = default_seed(seed)

    def call(self, losses, gramian=None, training=None):
        del gramian
        return self.combine(tf.ones([self.num_tasks]), losses, training)

    def transform_gradients(self, per_task_grads):
        """Combines per-task gradients with sign dropout.

        Under a distribution strategy the inputs are this replica's
        gradients of the shared variables: they are summed over replicas
        first (the mask is nonlinear, so it must see the global gradients),
        masked identically on every replica, and divided by the number of
        replicas, so that the optimizer's usual SUM all-reduce of the
        returned gradients yields the global GradDrop gradient.

        Args:
            per_task_grads: list over the K tasks of lists of tensors (one per
                shared variable; None = no gradient).

        Returns:
            A list of combined gradients, one per tensor (None where every
            task gave None).
        """
        seed = self.seed(self.seed_value)
        context = tf.distribute.get_replica_context()
        replicas = 1 if context is None else context.num_replicas_in_sync
        combined = []
        for index, grads in enumerate(zip(*per_task_grads)):
            present = [g for g in grads if g is not None]
            if not present:
                combined.append(None)
                continue
            stacked = tf.stack([tf.convert_to_tensor(g) for g in present])
            if replicas > 1:
                stacked = context.all_reduce("SUM", stacked)
            purity = 0.5 * (
                1.0
                + tf.math.divide_no_nan(
                    tf.reduce_sum(stacked, 0),
                    tf.reduce_sum(tf.abs(stacked), 0),
                )
            )
            draw = tf.random.stateless_uniform(
                tf.shape(purity),
                seed=tf.random.experimental.stateless_fold_in(seed, index),
                dtype=purity.dtype,
            )
            keep = tf.where(stacked > 0, purity > draw, purity < draw)
            mask = self.leak + (1.0 - self.leak) * tf.cast(keep, stacked.dtype)
            combined.append(tf.reduce_sum(mask * stacked, 0) / replicas)
        return combined

    def get_config(self):
        config = super().get_config()
        config.update(leak=self.leak, seed=self.seed_value)
        return config
