"""Sets MTL-NAS's temperature and penalty weights every step."""

from tfmtl.trainers.set_variable import SetVariable


def _poly(step, total, start, end, power):
    """Polynomial ramp from 0 to 1 over `[start, end] * total` steps."""
    begin, finish = start * total, end * total
    if step >= finish:
        return 1.0
    if step < begin:
        return 0.0
    return ((step - begin) / max(finish - begin, 1e-12)) ** power


class ArchitectureSchedule(SetVariable):
    """Drives the non-trainable state of an `MTLNAS` sharing module.

    After every training step it prepares the next one (which gate mode a
    step uses follows from its plan, see `MTLNAS`):

    * `temperature` = `init_temperature * (1 - step / total_steps) **
      temperature_power`, at least `min_temperature`;
    * `entropy_weight` = `entropy_weight * ramp`, where `ramp` rises
      linearly from 0 to 1 over `entropy_period` (fractions of
      `total_steps`; `(0, 0)` means constant from the first step);
    * with `l1_weight` set, the module's `l1_weight` = `l1_weight * ramp`
      over `l1_period`, and 0 after the period with `l1_off`.

    The first step runs with the module's initial values.

    Args:
        total_steps: int, length of the search.
        init_temperature: float, temperature at step 0.
        temperature_power: float, power of the polynomial decay.
        min_temperature: float, floor of the temperature.
        entropy_weight: float, final weight of the entropy regulariser.
        entropy_period: `(start, end)` fractions of the entropy ramp.
        l1_weight: None (leave the module's L1 weight alone) or the final
            weight of the L1 penalty on the gates (the reference uses 5).
        l1_period: `(start, end)` fractions of the L1 ramp.
        l1_off: bool, switch the L1 penalty off after `l1_period`.
    """

    def __init__(
        self,
        total_steps,
        init_temperature=1.0,
        temperature_power=2.0,
        min_temperature=0.05,
        entropy_weight=10.0,
        entropy_period=(0.0, 0.0),
        l1_weight=None,
        l1_period=(0.0, 1.0),
        l1_off=False,
    ):
        super().__init__()
        self.total_steps = int(total_steps)
        self.init_temperature = float(init_temperature)
        self.temperature_power = float(temperature_power)
        self.min_temperature = float(min_temperature)
        self.max_entropy_weight = float(entropy_weight)
        self.entropy_period = tuple(map(float, entropy_period))
        self.max_l1_weight = None if l1_weight is None else float(l1_weight)
        self.l1_period = tuple(map(float, l1_period))
        self.l1_off = bool(l1_off)

    def temperature_at(self, step):
        """The relaxation temperature of `step`."""
        fraction = min(step / max(self.total_steps, 1), 1.0)
        tau = self.init_temperature * (1.0 - fraction) ** self.temperature_power
        # compat: the reference decays to exactly 0 at the last step; a
        # floor keeps the relaxed-Bernoulli sample finite.
        return max(tau, self.min_temperature)

    def entropy_weight_at(self, step):
        """The entropy-regulariser weight of `step`."""
        start, end = self.entropy_period
        ramp = _poly(step, self.total_steps, start, end, 1.0)
        return self.max_entropy_weight * ramp

    def l1_weight_at(self, step):
        """The L1-penalty weight of `step` (None: not scheduled)."""
        if self.max_l1_weight is None:
            return None
        start, end = self.l1_period
        if self.l1_off and step > end * self.total_steps:
            return 0.0
        return self.max_l1_weight * _poly(
            step, self.total_steps, start, end, 1.0
        )

    def values(self, step, context):
        del context
        return {
            "sharing.temperature": self.temperature_at(step),
            "sharing.entropy_weight": self.entropy_weight_at(step),
            # None (not scheduled) leaves the module's weight alone.
            "sharing.l1_weight": self.l1_weight_at(step),
        }
