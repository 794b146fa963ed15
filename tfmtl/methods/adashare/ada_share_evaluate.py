"""The action validating AdaShare's policy learning when the reference does."""

from tfmtl.trainers.actions import Action


class AdaShareEvaluate(Action):
    """Evaluates at the end of every weight phase (and during the warm-up).

    The reference validates policy learning after the last weight step of
    every weight + policy cycle, just before the policy steps (on NYUv2
    2-task, every 50 steps: ~300 candidates for the best policy), and
    during the warm-up every `val_freq` steps. The evaluation runs the
    evaluation actions (`SaveBestPolicy` keeps the best policy). Use it
    instead of `EVAL_EVERY` (which counts steps, not phases).

    Args:
        schedule: the run's `AdaShareSchedule`.
        steps: batches per evaluation (None: the whole split; the
            reference's 11).
        warmup_every: steps between evaluations during the warm-up (the
            yaml's `val_freq`); None: none.

    Example:
    ```python
    schedule = AdaShareSchedule(4000, 25, 25)
    actions = [AdaShareEvaluate(schedule, steps=11, warmup_every=400)]
    ```

    Reference:
        `train.py::train` of sunxm2357/AdaShare: `should(current_iter_w,
        weight_iter_alternate)` ends a weight phase with `eval(...)`, and
        `should(current_iter, val_freq)` validates the warm-up.
    """

    def __init__(self, schedule, steps=None, warmup_every=None):
        super().__init__(1, "train")
        self.warmup_steps = int(schedule.warmup_steps)
        self.weight_steps = int(schedule.weight_steps)
        self.cycle_steps = int(schedule.cycle_steps)
        self.steps = steps
        self.warmup_every = None if warmup_every is None else int(warmup_every)
        if self.warmup_every is not None and self.warmup_every < 1:
            raise ValueError(
                f"warmup_every must be >= 1 or None, got {warmup_every}."
            )

    def due(self, step):
        """Whether to evaluate after `step` training steps."""
        if step < self.warmup_steps:
            return bool(self.warmup_every) and step % self.warmup_every == 0
        position = (step - self.warmup_steps) % self.cycle_steps
        return step > self.warmup_steps and position == self.weight_steps

    def __call__(self, step, logs, context):
        del logs
        if step > 0 and self.due(step):
            context.evaluate(self.steps)
