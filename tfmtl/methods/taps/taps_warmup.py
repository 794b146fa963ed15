"""The action that warms up the TAPS sparsity penalty."""

from tfmtl.trainers.actions import Action


class TAPSWarmup(Action):
    """Sets the `TAPS` penalty scale after every step (warm-up, then ramp).

    The schedule itself (`warmup_steps`, `ramp_steps`) is an argument of the
    `TAPS` sharing module; this action tells it the step. The scale is a
    model variable, so it is checkpointed and a resumed run continues the
    schedule.

    Args:
        every_n_steps: steps between updates (1: every step).
    """

    def __init__(self, every_n_steps=1):
        super().__init__(every_n_steps, "train")

    def __call__(self, step, logs, context):
        sharing = context.model.sharing
        if not hasattr(sharing, "update_penalty_scale"):
            raise ValueError("TAPSWarmup needs the TAPS sharing module.")
        # `step` steps are done; the next one has 0-based index `step`.
        sharing.update_penalty_scale(step)
