"""One task per step, sampled more often when its accuracy is low."""

import hashlib

import numpy as np

from tfmtl.trainers.schedules import Plan, Schedule


class AccuracySampledTask(Schedule):
    """Feature partitioning's curriculum: `p(t) ~ (1 - acc_t + b)^(1/T)`.

    Each step trains one task and updates only its variable group
    `"<group>/<task>"` (that task's optimizer). Accuracies are set on the
    host with `set_accuracies` (by `UpdateTaskSampling`: the running
    training accuracy, as the reference, or the last evaluation); until then
    sampling is uniform. The draw is a pure function
    of `(seed, step)` and the current probabilities.

    Args:
        tasks: Task names; None means the run's tasks.
        mode: "accuracy" (the curriculum), "uniform" (random, equal
            probabilities) or "round_robin" (task `step mod N`, what the
            reference calls "uniform").
        bias: b, added to the error (reference 0.15).
        temperature: T (reference 0.3).
        group: Prefix of the per-task variable groups.
        data: Data stream name, or a dict task -> stream (one stream per
            task, e.g. Visual Decathlon's data sets).
        seed: Sampling seed.
    """

    def __init__(
        self,
        tasks=None,
        mode="accuracy",
        bias=0.15,
        temperature=0.3,
        group="weights",
        data="train",
        seed=0,
    ):
        if mode not in ("accuracy", "uniform", "round_robin"):
            raise ValueError(
                f"mode must be accuracy, uniform or round_robin, not {mode!r}"
            )
        self.tasks = None if tasks is None else tuple(tasks)
        self.mode, self.bias, self.temperature = mode, bias, temperature
        self.group, self.data, self.seed = group, data, seed
        self.accuracies = None

    def bind(self, tasks):
        bound = AccuracySampledTask(
            self.tasks or tuple(tasks),
            self.mode,
            self.bias,
            self.temperature,
            self.group,
            self.data,
            self.seed,
        )
        bound.accuracies = self.accuracies
        return bound

    def set_accuracies(self, accuracies):
        """Sets `{task: accuracy in [0, 1]}`; missing tasks count as 0."""
        self.accuracies = np.array(
            [float(accuracies.get(t, 0.0)) for t in self.tasks]
        )

    def probabilities(self):
        """Current sampling probability of every task."""
        n = len(self.tasks)
        if self.mode != "accuracy" or self.accuracies is None:
            return np.full(n, 1.0 / n)
        error = np.clip(1.0 - self.accuracies, 0.0, 1.0) + self.bias
        p = error ** (1.0 / self.temperature)
        return p / p.sum()

    def _stream(self, task):
        if isinstance(self.data, dict):
            return self.data[task]
        return self.data

    def _plan(self, task):
        return Plan((task,), (f"{self.group}/{task}",), self._stream(task))

    def __call__(self, step):
        if self.tasks is None:
            raise ValueError("AccuracySampledTask used before bind(tasks).")
        if self.mode == "round_robin":
            return self._plan(self.tasks[step % len(self.tasks)])
        digest = hashlib.sha256(f"{self.seed}:{step}".encode()).digest()
        u = int.from_bytes(digest[:8], "little") / 2.0**64
        index = int(np.searchsorted(np.cumsum(self.probabilities()), u))
        return self._plan(self.tasks[min(index, len(self.tasks) - 1)])

    def plans(self):
        if self.tasks is None:
            raise ValueError("AccuracySampledTask used before bind(tasks).")
        return tuple(self._plan(t) for t in self.tasks)
