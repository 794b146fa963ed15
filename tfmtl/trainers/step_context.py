"""What a probe sees of one training step, inside the traced replica step."""

import types

import tensorflow as tf


class StepContext:
    """The step a probe measures: model, batch, plan, tape and losses.

    Built by the `Trainer` inside `strategy.run`, before the update, and
    passed to `probe.replica_probe(context)`.

    Args:
        model: The `MultiTaskModel`.
        batch: This replica's batch, `{"image", "labels"}`.
        plan: The step's `Plan`.
        tape: The persistent `tf.GradientTape` that recorded the losses.
        losses: List of this replica's per-task loss tensors, in
            `plan.tasks` order (each the replica's share of the global
            mean).
        tasks: Dict mapping task name to `Task`.
        global_batch_size: Examples per step over all replicas.
        optimizers: Dict mapping variable group to optimizer.
        variable_groups: Dict mapping group to the list of variables its
            optimizer was built with (slot order).

    Example:
    ```python
    def replica_probe(self, context):
        grads = context.tape.gradient(context.losses[0], ...)
        return {"lr": context.learning_rate("weights")}
    ```
    """

    def __init__(
        self,
        *,
        model,
        batch,
        plan,
        tape,
        losses,
        tasks,
        global_batch_size,
        optimizers,
        variable_groups,
    ):
        self.model, self.batch, self.plan = model, batch, plan
        self.tape, self.losses = tape, list(losses)
        self.tasks = types.MappingProxyType(dict(tasks))
        self.global_batch_size = int(global_batch_size)
        self._optimizers = optimizers
        self._slots = {
            group: {id(v): i for i, v in enumerate(variables)}
            for group, variables in variable_groups.items()
        }

    def task_loss(self, task, labels, predictions):
        """The replica's share of `task`'s mean loss, as in training."""
        return tf.nn.compute_average_loss(
            self.tasks[task].loss(labels, predictions),
            global_batch_size=self.global_batch_size,
        )

    def optimizer(self, group):
        """The (unwrapped) optimizer of a variable group."""
        optimizer = self._optimizers[group]
        return getattr(optimizer, "inner_optimizer", optimizer)

    def learning_rate(self, group="weights"):
        """The current learning rate of `group`'s optimizer, float32."""
        return tf.cast(self.optimizer(group).learning_rate, tf.float32)

    def slot(self, group, variable, name):
        """`variable`'s slot `name` (e.g. "momentums") in `group`'s optimizer.

        Keras 3 optimizers keep slots in lists in the order of the
        variables they were built with; the trainer knows that order.

        Returns:
            The slot variable, or None when the optimizer has no such slot.
        """
        slots = getattr(self.optimizer(group), name, None)
        index = self._slots[group].get(id(variable))
        if not slots or index is None:
            return None
        return slots[index]
