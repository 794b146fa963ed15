"""AdaShare's training schedule: warm-up, then weight / policy alternation."""

from tfmtl.trainers.schedules import Plan, Schedule


class AdaShareSchedule(Schedule):
    """Warm-up steps on "train", then alternating weight and policy steps.

    Steps `[0, warmup_steps)` update the "weights" group on stream
    `warmup_data` (every block executes: `AdaShareCurriculum` keeps the
    curriculum at 0). Afterwards each cycle runs `weight_steps` steps on
    "weights" with stream `weight_data` followed by `policy_steps` steps on
    "arch" (the policy logits) with stream `policy_data`.

    Args:
        warmup_steps: int, steps of the warm-up phase.
        weight_steps: int, weight steps per cycle.
        policy_steps: int, policy steps per cycle.
        tasks: task names (None: the run's tasks).
        warmup_data: data stream of the warm-up.
        weight_data: data stream of the weight steps.
        policy_data: data stream of the policy steps.
        weight_group: variable group of the weight steps.
        policy_group: variable group of the policy steps.

    Example:
    >>> schedule = AdaShareSchedule(2, 3, 1).bind(("a", "b"))
    >>> [schedule(s).groups[0] for s in range(7)]
    ['weights', 'weights', 'weights', 'weights', 'weights', 'arch', 'weights']

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (`train.py` of the official
        code).
    """

    def __init__(
        self,
        warmup_steps,
        weight_steps,
        policy_steps,
        tasks=None,
        warmup_data="train",
        weight_data="train1",
        policy_data="train2",
        weight_group="weights",
        policy_group="arch",
    ):
        if warmup_steps < 0 or weight_steps < 1 or policy_steps < 1:
            raise ValueError(
                "AdaShareSchedule needs warmup_steps >= 0 and weight_steps, "
                "policy_steps >= 1."
            )
        self.warmup_steps = int(warmup_steps)
        self.weight_steps = int(weight_steps)
        self.policy_steps = int(policy_steps)
        self.tasks = None if tasks is None else tuple(tasks)
        self.warmup_data = warmup_data
        self.weight_data = weight_data
        self.policy_data = policy_data
        self.weight_group = weight_group
        self.policy_group = policy_group

    @property
    def cycle_steps(self):
        """Steps of one weight + policy cycle (one "policy epoch")."""
        return self.weight_steps + self.policy_steps

    def bind(self, tasks):
        return AdaShareSchedule(
            self.warmup_steps,
            self.weight_steps,
            self.policy_steps,
            self.tasks or tuple(tasks),
            self.warmup_data,
            self.weight_data,
            self.policy_data,
            self.weight_group,
            self.policy_group,
        )

    def _plans(self):
        if self.tasks is None:
            raise ValueError("AdaShareSchedule used before bind(tasks).")
        return (
            Plan(self.tasks, (self.weight_group,), self.warmup_data),
            Plan(self.tasks, (self.weight_group,), self.weight_data),
            Plan(self.tasks, (self.policy_group,), self.policy_data),
        )

    def __call__(self, step):
        warmup, weights, policy = self._plans()
        if step < self.warmup_steps:
            return warmup
        position = (step - self.warmup_steps) % self.cycle_steps
        return weights if position < self.weight_steps else policy

    def plans(self):
        plans = self._plans()
        return plans if self.warmup_steps else plans[1:]
