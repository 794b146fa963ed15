"""The training loop's log: windowed means to TensorBoard and the console.

Runs on the host. Every `every` steps (and at the last step) it writes the
means of the steps since the last line, the example rate and each
optimizer group's learning rate as `train` scalars, and logs one line with
the step, the task losses, the throughput and an ETA.
"""

import datetime
import time

import numpy as np
from absl import logging


class TrainLog:
    """Averages step logs between summaries and writes them.

    Each key is averaged over the steps that logged it: under a schedule
    that trains one task per step, `loss/<task>` is that task's mean loss
    over its own steps, not diluted by the steps of the others.

    Args:
        writers: The run's `summaries.Writers`.
        optimizers: Dict of optimizer group name to optimizer (their
            learning rates are logged as `lr/<group>`).
        global_batch_size: Examples per step, for the example rate.
        total_steps: The step the run trains to (for the ETA).
        first_step: The step the run starts (or resumes) from.
        every: Steps between two writes.

    Example:
    ```python
    log = TrainLog(writers, optimizers, 64, total_steps=1000, first_step=0)
    for step in range(1, 1001):
        log.add(step, {"loss/seg": 0.5})
    ```
    """

    def __init__(
        self,
        writers,
        optimizers,
        global_batch_size,
        total_steps,
        first_step,
        every=50,
    ):
        self.writers, self.optimizers = writers, optimizers
        self.global_batch_size = int(global_batch_size)
        self.total_steps, self.first_step = int(total_steps), int(first_step)
        self.every = int(every)
        self.started = self._last_time = time.time()
        self._reset()

    def _reset(self):
        self.count, self._sums, self._counts = 0, {}, {}

    def add(self, step, logs):
        """Adds one step's host-side `logs`; writes when the step is due."""
        self.count += 1
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)
            self._counts[key] = self._counts.get(key, 0) + 1
        if step % self.every == 0 or step == self.total_steps:
            self.write(step)

    def mean(self):
        """Means of the window, each key over the steps that logged it."""
        return {k: v / self._counts[k] for k, v in self._sums.items()}

    def write(self, step):
        """Writes the window's scalars and one console line; resets it."""
        now = time.time()
        rate = self.count * self.global_batch_size
        rate /= max(now - self._last_time, 1e-9)
        averaged = self.mean()
        averaged["throughput/examples_per_second"] = rate
        for group, optimizer in self.optimizers.items():
            averaged[f"lr/{group}"] = _learning_rate(optimizer)
        self.writers.scalars("train", averaged, step)
        self._progress(step, averaged, rate)
        self._last_time = now
        self._reset()
        return averaged

    def _progress(self, step, logs, rate):
        elapsed = time.time() - self.started
        done = max(step - self.first_step, 1)
        eta = elapsed / done * max(self.total_steps - step, 0)
        task_losses = [
            f"{k[5:]} {v:.4f}"
            for k, v in logs.items()
            if k.startswith("loss/") and k != "loss/regularization"
        ]
        logging.info(
            "step %d/%d | %s | %.1f ex/s | ETA %s",
            step,
            self.total_steps,
            " ".join(task_losses[:6]),
            rate,
            datetime.timedelta(seconds=int(eta)),
        )


def _learning_rate(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(np.asarray(inner.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return float("nan")
