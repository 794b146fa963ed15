"""Base class of the weightings computed from the Gramian of task gradients."""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, check_gradients


@keras.saving.register_keras_serializable(package="tfmtl")
class GramianWeighting(Weighting):
    """A `Weighting` whose coefficients come from the K x K Gramian.

    Owns the ``gradients`` constructor argument (which Gramian the trainer
    builds: ``"representation"`` or ``"parameters"``), its validation, its
    config entry, and the float64 conversion of the Gramian. Subclasses set
    ``default_gradients`` (also their class-level ``needs_gramian``), call
    ``self.gramian64(gramian)`` in ``call`` and do all K x K arithmetic in
    float64; ``combine`` casts the final weights to float32.

    Precision: Keras's input autocasting casts every floating call
    argument, the ``gramian=`` keyword included, to the layer's compute
    dtype (float32) before ``call`` runs, so a float64 Gramian would reach
    ``gramian64`` already rounded to float32 (relative error 6e-8,
    amplified by the condition number of the K x K problem: 3e-5 on
    UPGrad's ill-conditioned reference family, against 1e-9 unrounded).
    These layers therefore default to ``autocast=False`` and ``__call__``
    casts only the losses to float32 itself: a float64 Gramian reaches
    ``call`` as float64, a float32 one (what the trainer builds) is
    widened exactly.

    Args:
        gradients: ``"representation"``, ``"parameters"`` or None (the
            class's ``default_gradients``).
        **kwargs: forwarded to `Weighting`.

    Call arguments:
        losses: float32 [K], this replica's share of the per-task losses.
        gramian: float32 or float64 [K, K] Gramian of the per-task gradients
            (kept in its dtype up to ``gramian64``).
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    class Mean(GramianWeighting):
        default_gradients = "parameters"

        def call(self, losses, gramian=None, training=None):
            gramian = self.gramian64(gramian)
            weights = tf.ones([self.num_tasks], tf.float64) / self.num_tasks
            return self.combine(weights, losses, training)
    ```

    Reference:
        Lin & Zhang, "LibMTL: A Python Library for Multi-Task Learning",
        JMLR 24(209), 2023 (the ``rep_grad`` switch between the two sources).
    """

    default_gradients = "representation"
    needs_gramian = "representation"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.needs_gramian = cls.default_gradients

    def __init__(self, gradients=None, **kwargs):
        kwargs.setdefault("autocast", False)  # see "Precision" above
        super().__init__(**kwargs)
        if gradients is None:
            gradients = type(self).default_gradients
        self.gradients = check_gradients(gradients)
        self.needs_gramian = self.gradients

    def __call__(self, losses, *args, **kwargs):
        # Autocast is off (it would round a float64 Gramian to float32):
        # cast the losses to float32 as it would have.
        losses = keras.ops.cast(losses, self.compute_dtype)
        return super().__call__(losses, *args, **kwargs)

    def gramian64(self, gramian):
        """Validates the Gramian, cuts it out of the tape, returns float64.

        The Gramian arrives in the dtype it was passed in (autocast is off
        for these layers), so a float64 Gramian keeps its precision.

        Raises:
            ValueError: if ``gramian`` is None or its static shape is not
                [K, K] with K the number of tasks.
        """
        if gramian is None:
            raise ValueError(
                f"{type(self).__name__} needs the {self.gradients} "
                "Gramian; the trainer passed gramian=None."
            )
        gramian = tf.cast(tf.stop_gradient(gramian), tf.float64)
        k = self.num_tasks
        shape = tuple(gramian.shape)
        if k is not None and len(shape) == 2 and None not in shape:
            if shape != (k, k):
                raise ValueError(
                    f"{type(self).__name__} expects a [{k}, {k}] Gramian, "
                    f"got shape {list(shape)}."
                )
        elif len(shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects a rank-2 Gramian, got shape "
                f"{list(shape)}."
            )
        return gramian

    def get_config(self):
        config = super().get_config()
        config.update(gradients=self.gradients)
        return config
