"""Binds `GlobalStepDecay` learning rates to a run's global step."""

from tfmtl.methods.feature_partitioning.global_step_decay import (
    GlobalStepDecay,
)
from tfmtl.trainers.actions import Action


def global_step_schedules(context):
    """The `GlobalStepDecay` schedules of a run's optimizers."""
    schedules = (
        context.learning_rate_schedule(group) for group in context.optimizers
    )
    return [s for s in schedules if isinstance(s, GlobalStepDecay)]


class BindGlobalStep(Action):
    """Drives every `GlobalStepDecay` of the run by its global step.

    When the run is built (`bind`), each optimizer whose learning rate is a
    `GlobalStepDecay` reads the run's `global_step`, so per-task
    optimizers all drop their rate at the same global step, as the
    reference, whichever tasks the sampler favours. Nothing happens between
    steps.

    Args:
        required: Raise if no optimizer of the run has such a schedule.
    """

    name = "bind_global_step"

    def __init__(self, required=False):
        super().__init__(every_n_steps=1, on="train")
        self.required = bool(required)

    def bind(self, context):
        schedules = global_step_schedules(context)
        if self.required and not schedules:
            raise ValueError(
                "BindGlobalStep: no optimizer uses a GlobalStepDecay."
            )
        for schedule in schedules:
            schedule.bind(context.global_step)

    def __call__(self, step, logs, context):
        del step, logs, context
