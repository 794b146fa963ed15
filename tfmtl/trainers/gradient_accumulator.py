"""Gradient accumulation: N micro-batches make one optimizer update.

Keras 3's `optimizer.gradient_accumulation_steps` decides inside the traced
step (a `cond` around `apply_gradients`) whether to update, and under
`tf.distribute.MirroredStrategy` that puts the optimizer's cross-replica
`merge_call` inside a `cond`, which TensorFlow rejects. Here the host
decides instead: the trainer traces an "accumulate" step and an "apply"
step and picks one from a checkpointed micro-step counter, so the optimizer
is never called under a `cond`.
"""

import tensorflow as tf


class GradientAccumulator(tf.Module):
    """Per-variable gradient sums over `steps` micro-steps.

    Each micro-step adds its gradients to one sum per variable; every
    `steps`-th micro-step the optimizer receives `sum / steps` (the mean
    gradient of the `steps` micro-batches, i.e. the gradient of their
    concatenation when the loss is a batch mean) and the sums restart from
    zero. The optimizer's `iterations` therefore advance once per `steps`
    micro-steps, as with Keras' `gradient_accumulation_steps`; learning-rate
    schedules count optimizer updates, not micro-steps.

    Under a distribution strategy the sums are sync-on-read variables: each
    replica adds its own (unreduced) gradients, and the optimizer all-reduces
    the mean once per update, so accumulation also saves communication. The
    counter and the sums are checkpointed with the run, so a run resumed in
    the middle of an accumulation window ends as an uninterrupted one.

    Create it inside the strategy's scope.

    Args:
        variables: the trainable variables that may receive gradients.
        steps: int >= 2, micro-steps per optimizer update.

    Example:

    ```python
    accumulator = GradientAccumulator(model.trainable_variables, steps=8)
    last = accumulator.is_update_step()  # on the host, before the step
    accumulator.add(zip(grads, variables))  # in the step
    if last:
        optimizer.apply_gradients(accumulator.take(variables))
    accumulator.advance()  # on the host, after the step
    ```
    """

    def __init__(self, variables, steps):
        super().__init__(name="gradient_accumulator")
        self.steps = int(steps)
        if self.steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}.")
        unique = list({id(v): v for v in variables}.values())
        self._index = {id(v): i for i, v in enumerate(unique)}
        self.count = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="count"
        )
        self.sums = [
            tf.Variable(
                tf.zeros(v.shape, v.dtype),
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
                name=f"sum_{i}",
            )
            for i, v in enumerate(unique)
        ]

    def is_update_step(self):
        """Whether the next micro-step ends the window (host side)."""
        return int(self.count.numpy()) + 1 >= self.steps

    def advance(self):
        """Counts one finished micro-step (host side, after the step)."""
        self.count.assign((int(self.count.numpy()) + 1) % self.steps)

    def add(self, grads_and_vars):
        """Adds one micro-step's gradients (per replica, in the step).

        Args:
            grads_and_vars: iterable of `(gradient, variable)`; gradients
                must not be None.
        """
        for grad, variable in grads_and_vars:
            total = self.sums[self._index[id(variable)]]
            total.assign_add(tf.cast(tf.convert_to_tensor(grad), total.dtype))

    def take(self, variables):
        """`(sum / steps, variable)` pairs; the sums restart from zero.

        Runs per replica in the step that ends the window. Every given
        variable is returned, including one that got no gradient during the
        window (its mean is zero), so a window whose micro-steps train
        different tasks (a round-robin schedule) updates all of them.

        Args:
            variables: the variables to update.

        Returns:
            List of `(mean gradient, variable)`.
        """
        pairs = []
        for variable in variables:
            total = self.sums[self._index[id(variable)]]
            pairs.append((total.read_value() / float(self.steps), variable))
        with tf.control_dependencies([mean for mean, _ in pairs]):
            for variable in variables:
                total = self.sums[self._index[id(variable)]]
                total.assign(tf.zeros_like(total))
        return pairs
