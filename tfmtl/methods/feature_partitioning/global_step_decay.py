"""A piecewise-constant learning rate driven by a shared global step."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfmtl")
class GlobalStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`values[i]` while `boundaries[i - 1] < global step <= boundaries[i]`.

    Unlike `keras.optimizers.schedules.PiecewiseConstantDecay`, which an
    optimizer calls with its own `iterations`, this schedule ignores the
    optimizer's step and reads a shared step variable: with one optimizer
    per task and one task per step, each optimizer counts only its own
    steps, but the reference drops every optimizer's learning rate at the
    same global step (`main.py::train`). The step read during a training
    step is the number of steps completed before it, so the rate drops from
    the step after the one numbered `boundaries[i]`, as the reference.

    The step variable is given with `bind` (or `step`). In a `tfmtl.train`
    run, the `BindGlobalStep` action binds every such schedule of the run's
    optimizers to the run's global step (checkpointed, so a resumed run
    continues with the right rate).

    Args:
        boundaries: Increasing global steps after which the rate changes.
        values: One more value than boundaries.
        step: Optional integer `tf.Variable` (the global step).

    Example:
    >>> step = tf.Variable(0, dtype=tf.int64)
    >>> lr = GlobalStepDecay([2], [1.0, 0.1], step)
    >>> _ = step.assign(3)
    >>> float(lr(0))
    0.1
    """

    def __init__(self, boundaries, values, step=None):
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"Need one more value than boundaries: {self.boundaries}, "
                f"{self.values}."
            )
        if sorted(self.boundaries) != self.boundaries:
            raise ValueError(f"Boundaries must increase: {self.boundaries}.")
        # A list, so that optimizers holding the schedule do not track the
        # variable (it is checkpointed by its owner).
        self._step = [step]

    def bind(self, step):
        """Reads the learning rate off `step` (an integer variable)."""
        self._step = [step]

    @property
    def bound(self):
        return self._step[0] is not None

    def __call__(self, step):
        del step  # the optimizer's own iterations
        if self._step[0] is None:
            raise RuntimeError(
                "GlobalStepDecay is not bound to a global step: call bind(), "
                "or add feature_partitioning.BindGlobalStep() to the run's "
                "actions."
            )
        global_step = tf.cast(tf.convert_to_tensor(self._step[0]), tf.int64)
        index = tf.reduce_sum(
            tf.cast(
                global_step > tf.constant(self.boundaries, tf.int64), tf.int32
            )
        )
        return tf.gather(tf.constant(self.values, tf.float32), index)

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values}
