"""A loss weighting followed by a gradient method on the scaled gradients.

Built for the PCGrad+UW baseline of TAG's CelebA table (Fifty et al.,
"Efficiently Identifying Task Groupings for Multi-Task Learning", NeurIPS
2021; google-research ``tag/celeba/CelebA.ipynb``, ``train_pcgrad_step``),
which scales every task loss by its uncertainty weight, hands the scaled
losses to PCGrad, and trains the log-variances on the plain UW objective.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting


def _resolve(value, what, **kwargs):
    """A weighting layer from a layer, a class/factory or a registry name."""
    if isinstance(value, str):
        from tfmtl import weighting  # the registry imports this module

        return weighting.get(value, **kwargs)
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    if isinstance(value, Weighting):
        return value
    if callable(value):
        return _resolve(value(), what)
    raise ValueError(f"{what} must be a Weighting or its name, got {value!r}")


@keras.saving.register_keras_serializable(package="tfmtl")
class ComposedWeighting(Weighting):
    """Loss scaling ``T(L)`` first, then a gradient method on ``d_i g_i``.

    With ``d = dT/dL`` the per-task scales of the loss weighting (for UW
    ``d_i = exp(-a s_i)``), the task gradients of the scaled objective are
    ``d_i g_i``, whose Gramian is ``diag(d) G diag(d)``. The gradient
    method turns it into coefficients ``c`` on the *scaled* gradients, so
    the combined gradient is ``sum_i c_i d_i g_i`` and the logged weight is
    ``c_i d_i``. The loss weighting's own parameters (UW's log-variances)
    get the gradient of its plain objective ``T`` at the current losses:

    ``objective = sum_i stop(c_i d_i) L_i + T(stop(L))``,

    so the model's variables see only the first term and the loss
    weighting's variables only the second, as in the colab, which applies
    PCGrad to the scaled base gradients and
    ``compute_gradients(loss, uncertainty_weights)`` to the UW loss.

    # compat: the colab runs PCGrad per head on the single loss of that
    # head (a no-op), so head i gets ``d_i grad L_i``; here the heads get
    # ``c_i d_i grad L_i`` like the shared part (the only form expressible
    # as loss weights, as for `PCGrad` alone).

    Args:
        loss_weighting: the loss weighting (a `Weighting`, a factory, or a
            name of `tfmtl.weighting.ALL`; default ``"uw"``). Its scalar
            should be linear in the losses (UW, fixed, DWA, RLW); otherwise
            ``d`` is its local derivative at the current losses.
        gradient_weighting: the gradient method (a `GramianWeighting`, a
            factory or a name; default ``"pcgrad"``).
        gradients: optional Gramian source (``"parameters"`` or
            ``"representation"``) for a ``gradient_weighting`` given by
            name; for a layer it must match the layer's.
        **kwargs: forwarded to `Weighting`.

    Call arguments:
        losses: float32 [K], this replica's share of the per-task losses.
        gramian: [K, K] Gramian of the *unscaled* per-task gradients (what
            the trainer builds for ``gradient_weighting.needs_gramian``).
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    uw = UncertaintyWeighting(initial_log_variance=1.0, weight_exponent=2.0)
    layer = ComposedWeighting(uw, PCGrad(shuffle=False, include_self=True))
    layer.build(2)
    gram = tf.constant([[1.0, -1.0], [-1.0, 2.0]])
    total = layer(tf.constant([1.0, 1.0]), gramian=gram)
    ```

    Reference:
        Fifty et al., NeurIPS 2021, arXiv:2109.04617 (the PCGrad+UW
        baseline); Yu et al., NeurIPS 2020; Kendall et al., CVPR 2018.
    """

    # Class-level values are the default composition's (UW + PCGrad, whose
    # order is random); instances set both from their parts.
    needs_gramian = "parameters"
    deterministic = False

    def __init__(
        self,
        loss_weighting="uw",
        gradient_weighting="pcgrad",
        gradients=None,
        **kw,
    ):
        kw.setdefault("autocast", False)  # keep a float64 Gramian's precision
        super().__init__(**kw)
        self.loss_weighting = _resolve(loss_weighting, "loss_weighting")
        by_name = isinstance(gradient_weighting, str) and gradients
        self.gradient_weighting = _resolve(
            gradient_weighting,
            "gradient_weighting",
            **({"gradients": gradients} if by_name else {}),
        )
        own = getattr(self.gradient_weighting, "gradients", None)
        if gradients is not None and own != gradients:
            raise ValueError(
                f"gradients={gradients!r} does not match the gradient "
                f"weighting's {own!r}."
            )
        needs = getattr(self.gradient_weighting, "needs_gramian", None)
        if needs is None:
            raise ValueError(
                "gradient_weighting must need a Gramian, got "
                f"{type(self.gradient_weighting).__name__}."
            )
        if self.loss_weighting.needs_gramian is not None:
            raise ValueError(
                "loss_weighting must be a loss-only weighting, got "
                f"{type(self.loss_weighting).__name__}."
            )
        self.needs_gramian = needs
        self.deterministic = (
            self.loss_weighting.deterministic
            and self.gradient_weighting.deterministic
        )

    def build(self, num_tasks):
        super().build(num_tasks)
        for layer in (self.loss_weighting, self.gradient_weighting):
            if not layer.built:
                layer.build(self.num_tasks)
            elif layer.num_tasks != self.num_tasks:
                raise ValueError(
                    f"{type(layer).__name__} is built for {layer.num_tasks} "
                    f"tasks, not {self.num_tasks}."
                )

    def call(self, losses, gramian=None, training=None):
        if gramian is None:
            raise ValueError(
                "ComposedWeighting needs the "
                f"{self.needs_gramian} Gramian; the trainer passed "
                "gramian=None."
            )
        losses = tf.cast(losses, tf.float32)
        frozen = tf.stop_gradient(losses)
        with tf.GradientTape() as tape:
            tape.watch(frozen)
            scaling_objective = self.loss_weighting(frozen, training=training)
        scales = tf.stop_gradient(tape.gradient(scaling_objective, frozen))
        scales64 = tf.cast(scales, tf.float64)
        scaled_gramian = (
            tf.cast(tf.stop_gradient(gramian), tf.float64)
            * scales64[:, None]
            * scales64[None, :]
        )
        # The inner method returns sum stop(c_i) (d_i L_i): its gradient
        # w.r.t. the model is sum c_i d_i g_i.
        projected = self.gradient_weighting(
            losses * scales, gramian=scaled_gramian, training=training
        )
        coefficients = tf.convert_to_tensor(
            self.gradient_weighting.task_weights
        )
        self.record(coefficients * scales, training)
        return projected + scaling_objective

    def get_config(self):
        config = super().get_config()
        config.update(
            loss_weighting=keras.saving.serialize_keras_object(
                self.loss_weighting
            ),
            gradient_weighting=keras.saving.serialize_keras_object(
                self.gradient_weighting
            ),
        )
        return config
