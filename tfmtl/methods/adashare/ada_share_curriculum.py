"""The action annealing AdaShare's temperature and unlocking its blocks."""

from tfmtl.trainers.set_variable import SetVariable


def curriculum_state(
    step,
    warmup_steps,
    cycle_steps,
    num_blocks,
    curriculum_speed=3,
    init_temperature=5.0,
    temperature_decay=0.965,
):
    """Temperature and unlocked blocks for the step about to run.

    Args:
        step: int, index of the next training step (steps done so far).
        warmup_steps: int, length of the warm-up.
        cycle_steps: int, steps of one weight + policy cycle.
        num_blocks: int L.
        curriculum_speed: int, policy epochs per newly unlocked block.
        init_temperature: float.
        temperature_decay: float, factor applied after every policy epoch.

    Returns:
        `(temperature, num_train_layers)`; `num_train_layers` is 0 during
        the warm-up (every block executes).
    """
    if step < warmup_steps:
        return init_temperature, 0
    epoch = (step - warmup_steps) // cycle_steps
    unlocked = min(num_blocks, epoch // curriculum_speed + 1)
    return init_temperature * temperature_decay**epoch, unlocked


def _default(value, default):
    return default if value is None else value


class AdaShareCurriculum(SetVariable):
    """Sets the Gumbel temperature and the curriculum before every step.

    Both are pure functions of the step (`curriculum_state`), so a resumed
    run continues exactly. After warm-up, policy epoch e (one weight +
    policy cycle) uses temperature `init_temperature * decay**e` and
    unlocks the last `min(L, e // curriculum_speed + 1)` blocks.

    Args:
        warmup_steps: int, steps of the warm-up (default: the schedule's).
        cycle_steps: int, steps of one weight + policy cycle (default: the
            schedule's).
        curriculum_speed: int, policy epochs per newly unlocked block.
        init_temperature: float, temperature of the first policy epoch.
        temperature_decay: float, decay per policy epoch.
        schedule: an `AdaShareSchedule` giving the default `warmup_steps`
            and `cycle_steps`.
        reset_weight_momentum: before the first step of every weight phase,
            zero the momentum of the optimizers of that phase's groups
            (those with a `reset_momentum` method, e.g. `SGDL2`). False
            (default) is the reference, which builds its SGD once after
            the warm-up (`train.py`, `define_optimizer(policy_learning=
            True)` under `flag_warmup`), so momentum carries over from one
            weight phase to the next; True is a deviation from it.

    Example:
    ```python
    actions = [AdaShareCurriculum(warmup_steps=4000, cycle_steps=50)]
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (`decay_temperature` and
        `num_train_layers` in the official `train.py`).
    """

    def __init__(
        self,
        warmup_steps=None,
        cycle_steps=None,
        curriculum_speed=3,
        init_temperature=5.0,
        temperature_decay=0.965,
        schedule=None,
        reset_weight_momentum=False,
    ):
        super().__init__()
        self.reset_weight_momentum = bool(reset_weight_momentum)
        if schedule is not None:
            warmup_steps = _default(warmup_steps, schedule.warmup_steps)
            cycle_steps = _default(cycle_steps, schedule.cycle_steps)
        if warmup_steps is None or cycle_steps is None:
            raise ValueError(
                "AdaShareCurriculum needs warmup_steps and cycle_steps "
                "(or an AdaShareSchedule)."
            )
        self.warmup_steps = int(warmup_steps)
        self.cycle_steps = int(cycle_steps)
        self.curriculum_speed = int(curriculum_speed)
        self.init_temperature = float(init_temperature)
        self.temperature_decay = float(temperature_decay)

    def values(self, step, context):
        temperature, unlocked = curriculum_state(
            step,
            self.warmup_steps,
            self.cycle_steps,
            context.model.sharing.num_blocks,
            self.curriculum_speed,
            self.init_temperature,
            self.temperature_decay,
        )
        return {
            "sharing.temperature": temperature,
            "sharing.num_train_layers": unlocked,
        }

    def __call__(self, step, logs, context):
        super().__call__(step, logs, context)
        if self.reset_weight_momentum and self._phase_starts(step):
            for group in context.schedule(step).groups:
                optimizer = context.optimizers[group]
                optimizer = getattr(optimizer, "inner_optimizer", optimizer)
                if hasattr(optimizer, "reset_momentum"):
                    optimizer.reset_momentum()

    def _phase_starts(self, step):
        if step < self.warmup_steps:
            return False
        return (step - self.warmup_steps) % self.cycle_steps == 0
