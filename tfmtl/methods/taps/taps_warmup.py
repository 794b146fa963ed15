"""The action that warms up the TAPS sparsity penalty."""

from tfmtl.trainers.set_variable import SetVariable


class TAPSWarmup(SetVariable):
    """Sets the `TAPS` penalty scale after every step (warm-up, then ramp).

    The schedule itself (`warmup_steps`, `ramp_steps`) is an argument of the
    `TAPS` sharing module (`TAPS.scale_at`); this action writes it to the
    module's `penalty_scale` variable, so a resumed run continues it.

    Args:
        every_n_steps: steps between updates (1: every step).
    """

    def __init__(self, every_n_steps=1):
        super().__init__(every_n_steps=every_n_steps)

    def values(self, step, context):
        sharing = context.model.sharing
        if not hasattr(sharing, "scale_at"):
            raise ValueError("TAPSWarmup needs the TAPS sharing module.")
        return {"sharing.penalty_scale": sharing.scale_at(step)}
