"""AdaShare's training schedule: warm-up, then weight / policy alternation."""

from tfmtl.trainers.schedules import Plan, Schedule


def expand_groups(groups, tasks):
    """Expands group names containing "{task}" into one name per task.

    Args:
        groups: a group name or a sequence of names, e.g.
            `("alternate", "alternate/{task}")`.
        tasks: task names.

    Returns:
        Tuple of names, e.g. `("alternate", "alternate/seg",
        "alternate/depth")`.
    """
    if isinstance(groups, str):
        groups = (groups,)
    expanded = []
    for group in groups:
        if "{task}" in group:
            expanded += [group.format(task=t) for t in tasks]
        else:
            expanded.append(group)
    return tuple(expanded)


def expand_optimizers(optimizers, tasks):
    """An optimizer dict whose "{task}" keys are expanded per task.

    Each expanded key gets the same factory, so every task's group gets its
    own optimizer instance (equal hyperparameters: the same updates as one
    optimizer over all of them).

    Args:
        optimizers: `{group name: optimizer factory}`, e.g. `{"alternate":
            sgd, "alternate/{task}": sgd, "arch": adam}`.
        tasks: task names.

    Returns:
        `{group: factory}` for `tfmtl.experiment.run(optimizers=...)`.
    """
    expanded = {}
    for group, factory in dict(optimizers).items():
        for name in expand_groups(group, tasks):
            expanded[name] = factory
    return expanded


class AdaShareSchedule(Schedule):
    """Warm-up steps on "train", then alternating weight and policy steps.

    Steps `[0, warmup_steps)` update `warmup_groups` on stream `warmup_data`
    (every block executes: `AdaShareCurriculum` keeps the curriculum at 0).
    Afterwards each cycle runs `weight_steps` steps updating `weight_groups`
    on stream `weight_data`, then `policy_steps` steps updating
    `policy_groups` (the policy logits) on stream `policy_data`. A group
    name containing "{task}" stands for one group per task (see
    `expand_groups`), e.g. the per-task head groups that `AdaShare` creates
    with `alternate_group` so that the weight phases of policy learning
    get their own optimizer (SGD in the reference, Adam in the warm-up).

    Args:
        warmup_steps: int, steps of the warm-up phase.
        weight_steps: int, weight steps per cycle.
        policy_steps: int, policy steps per cycle.
        tasks: task names (None: the run's tasks).
        warmup_data: data stream of the warm-up.
        weight_data: data stream of the weight steps.
        policy_data: data stream of the policy steps.
        warmup_groups: variable groups of the warm-up steps.
        weight_groups: variable groups of the weight steps.
        policy_groups: variable groups of the policy steps.

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
        warmup_groups=("weights",),
        weight_groups=("weights",),
        policy_groups=("arch",),
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
        self.warmup_groups = expand_groups(warmup_groups, ())
        self.weight_groups = expand_groups(weight_groups, ())
        self.policy_groups = expand_groups(policy_groups, ())
        self._raw_groups = (warmup_groups, weight_groups, policy_groups)
        if self.tasks is not None:
            self.warmup_groups, self.weight_groups, self.policy_groups = (
                expand_groups(g, self.tasks) for g in self._raw_groups
            )

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
            *self._raw_groups,
        )

    def _plans(self):
        if self.tasks is None:
            raise ValueError("AdaShareSchedule used before bind(tasks).")
        return (
            Plan(self.tasks, self.warmup_groups, self.warmup_data),
            Plan(self.tasks, self.weight_groups, self.weight_data),
            Plan(self.tasks, self.policy_groups, self.policy_data),
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
