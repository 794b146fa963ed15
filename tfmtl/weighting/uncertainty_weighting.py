"""Uncertainty weighting (homoscedastic task uncertainty).

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses
for Scene Geometry and Semantics", CVPR 2018 (arXiv:1705.07115). Reference
implementation checked against: LibMTL ``LibMTL/weighting/UW.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, num_replicas


@keras.saving.register_keras_serializable(package="tfmtl")
class UncertaintyWeighting(Weighting):
    """Learned per-task log-variances ``s``: ``sum_i exp(-s_i) L_i + s_i``.

    The log-variances are trainable weights of this layer; the trainer
    optimises them with the model's "weights" optimizer (the gradient of the
    returned scalar w.r.t. ``s_i`` is ``1 - exp(-s_i) L_i``, so the optimum is
    ``s_i = log L_i``). The logged weight is ``exp(-s_i)``. Under a
    distribution strategy the regulariser ``s_i`` is divided by the number of
    replicas so that the summed replica gradients count it once.

    # compat: the paper's regression objective is
    # ``L / (2 sigma^2) + log sigma``, i.e. ``(exp(-s) L + s) / 2`` with
    # ``s = log sigma^2``; LibMTL uses that half-scaled form with s
    # initialised at -0.5, the nash-mtl repository with s = 0, and TAG
    # ``L exp(-2u) + u`` with u clipped to [0.01, 10]. We drop the 1/2 (the
    # optimum ``s = log L`` is unchanged, the gradients are doubled) and
    # start at s = 0, so the first steps equal EW.

    With ``clip=(lo, hi)`` the forward pass uses ``clip(s, lo, hi)`` (zero
    gradient outside the range) and with ``weight_exponent=a`` the weight is
    ``exp(-a s)``: TAG's CelebA colab (``train_uncertainty_step``, also its
    PCGrad+UW baseline) is ``initial_log_variance=1.0,
    weight_exponent=2.0, clip=(0.01, 10.0)``.

    Args:
        initial_log_variance: initial value of every ``s_i``.
        weight_exponent: ``a`` in the weight ``exp(-a s_i)``.
        clip: Optional ``(lo, hi)`` range ``s_i`` is clipped to.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: ignored.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    uw = UncertaintyWeighting()
    uw.build(2)
    uw(tf.constant([1.0, 2.0]))  # 3.0 at s = 0
    ```

    Reference:
        Kendall et al., CVPR 2018, arXiv:1705.07115.
    """

    def __init__(
        self,
        initial_log_variance=0.0,
        weight_exponent=1.0,
        clip=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.initial_log_variance = initial_log_variance
        self.weight_exponent = float(weight_exponent)
        if clip is not None:
            clip = (float(clip[0]), float(clip[1]))
            if not clip[0] < clip[1]:
                raise ValueError(f"clip must be (lo, hi) with lo < hi: {clip}")
        self.clip = clip

    def build(self, num_tasks):
        super().build(num_tasks)
        self.log_variance = self.add_weight(
            name="log_variance",
            shape=(self.num_tasks,),
            initializer=keras.initializers.Constant(self.initial_log_variance),
            trainable=True,
        )

    def call(self, losses, gramian=None, training=None):
        del gramian
        s = tf.convert_to_tensor(self.log_variance)
        if self.clip is not None:
            s = tf.clip_by_value(s, *self.clip)
        weights = tf.exp(-self.weight_exponent * s)
        # The weight keeps its gradient here: it is how s is learned.
        data_term = tf.reduce_sum(weights * losses)
        regulariser = tf.reduce_sum(s) / num_replicas()
        self.record(weights, training)
        return data_term + regulariser

    def get_config(self):
        config = super().get_config()
        config.update(
            initial_log_variance=self.initial_log_variance,
            weight_exponent=self.weight_exponent,
            clip=None if self.clip is None else list(self.clip),
        )
        return config
