"""Schedules: which tasks, variable groups and data stream each step uses.

A schedule maps a step to a frozen, hashable `Plan`. The trainer traces its
step once per distinct plan, so schedules never put `tf.cond` in the step.
"""

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one training step does.

    Attributes:
        tasks: Tasks whose losses enter the step.
        groups: Variable groups (optimizer keys) the step updates.
        data: Name of the training data stream the batch comes from.
    """

    tasks: tuple[str, ...]
    groups: tuple[str, ...] = ("weights",)
    data: str = "train"


class Schedule:
    """Base class: `schedule(step) -> Plan` and the set of all plans."""

    def __call__(self, step: int) -> Plan:
        raise NotImplementedError

    def plans(self) -> tuple[Plan, ...]:
        """Every plan this schedule can return (validated up front)."""
        raise NotImplementedError

    def bind(self, tasks: Sequence[str]) -> "Schedule":
        """Returns the schedule for the run's tasks (default: unchanged)."""
        del tasks
        return self


class Joint(Schedule):
    """All tasks every step (the classic multi-task step).

    Args:
        tasks: Task names; None means the run's tasks.
        groups: Variable groups updated every step.
        data: Data stream name.
    """

    def __init__(self, tasks=None, groups=("weights",), data="train"):
        self.tasks, self.groups, self.data = tasks, tuple(groups), data

    def bind(self, tasks):
        return Joint(self.tasks or tuple(tasks), self.groups, self.data)

    def _plan(self):
        if self.tasks is None:
            raise ValueError("Joint schedule used before bind(tasks).")
        return Plan(tuple(self.tasks), self.groups, self.data)

    def __call__(self, step):
        return self._plan()

    def plans(self):
        return (self._plan(),)


class Alternating(Schedule):
    """Cycles through plans, each for a number of steps.

    AdaShare and MTL-NAS alternate weight updates on one split with
    architecture updates on another:
    `Alternating([(Plan(t, ("weights",), "train1"), 1),
    (Plan(t, ("arch",), "train2"), 1)])`.

    Args:
        phases: Sequence of `(Plan, num_steps)`.
    """

    def __init__(self, phases: Sequence[tuple[Plan, int]]):
        if not phases or any(n < 1 for _, n in phases):
            raise ValueError("Alternating needs phases with >= 1 step each.")
        self.phases = tuple((plan, int(n)) for plan, n in phases)
        self._period = sum(n for _, n in self.phases)

    def __call__(self, step):
        position = step % self._period
        for plan, num_steps in self.phases:
            if position < num_steps:
                return plan
            position -= num_steps
        raise AssertionError("unreachable")

    def plans(self):
        return tuple(dict.fromkeys(plan for plan, _ in self.phases))


class SampledTask(Schedule):
    """One task per step, drawn at random (feature partitioning's schedule).

    The draw is a pure function of `(seed, step)`, so a resumed run samples
    the same tasks as an uninterrupted one.

    Args:
        tasks: Task names; None means the run's tasks.
        probabilities: Sampling probability per task (default uniform).
        groups: Variable groups updated each step.
        data: Data stream name.
        seed: Sampling seed.
    """

    def __init__(
        self,
        tasks=None,
        probabilities=None,
        groups=("weights",),
        data="train",
        seed=0,
    ):
        self.tasks, self.probabilities = tasks, probabilities
        self.groups, self.data, self.seed = tuple(groups), data, seed

    def bind(self, tasks):
        return SampledTask(
            self.tasks or tuple(tasks),
            self.probabilities,
            self.groups,
            self.data,
            self.seed,
        )

    def _probabilities(self):
        if self.probabilities is None:
            return np.full(len(self.tasks), 1.0 / len(self.tasks))
        p = np.asarray(self.probabilities, dtype=np.float64)
        if p.shape != (len(self.tasks),) or np.any(p < 0) or p.sum() <= 0:
            raise ValueError(f"Bad task probabilities {self.probabilities}.")
        return p / p.sum()

    def __call__(self, step):
        digest = hashlib.sha256(f"{self.seed}:{step}".encode()).digest()
        u = int.from_bytes(digest[:8], "little") / 2.0**64
        index = int(np.searchsorted(np.cumsum(self._probabilities()), u))
        task = self.tasks[min(index, len(self.tasks) - 1)]
        return Plan((task,), self.groups, self.data)

    def plans(self):
        return tuple(Plan((t,), self.groups, self.data) for t in self.tasks)
