"""Actions: host-side hooks run between training steps or after evaluations.

An action is called as `action(step, logs, context)` on the host, eagerly,
where `context` is the run's read-only `RunContext` (model, schedule,
optimizers, summary writer, model_dir, is_chief, last evaluation and the
run's checkpoint, evaluation and export services). Train-time actions
(`on="train"`) see the step's logs every `every_n_steps`; evaluation
actions (`on="eval"`) see each evaluation's results. Actions are `tf.Module`s
so their state (best value, patience counter) is checkpointed
with the run and survives a restart.
"""

import numpy as np
import tensorflow as tf
from absl import logging


class StopTraining(Exception):
    """Raised by an action to end training cleanly (e.g. early stopping)."""


class TrainingDivergedError(RuntimeError):
    """Raised when a loss is not finite or spikes; no checkpoint is
    written, and the ones after the last good state are set aside."""


class Action(tf.Module):
    """Base class.

    Args:
        every_n_steps: For train-time actions, how often to run.
        on: "train" (after training steps) or "eval" (after evaluations).
    """

    def __init__(self, every_n_steps: int = 1, on: str = "train", name=None):
        super().__init__(name=name)
        if on not in ("train", "eval"):
            raise ValueError(f"Action.on must be 'train' or 'eval', not {on!r}")
        self.every_n_steps, self.on = int(every_n_steps), on

    def __call__(self, step: int, logs: dict, context) -> None:
        raise NotImplementedError


class SaveCheckpoint(Action):
    """Writes a checkpoint every `every_n_steps` training steps."""

    def __init__(self, every_n_steps: int = 1000):
        super().__init__(every_n_steps, "train")

    def __call__(self, step, logs, context):
        context.checkpoints.save()


class Evaluate(Action):
    """Runs `context.evaluate(steps)` every `every_n_steps` steps.

    Args:
        every_n_steps: Steps between evaluations.
        steps: Batches per evaluation (None: the whole split).
    """

    def __init__(self, every_n_steps: int = 1000, steps=None):
        super().__init__(every_n_steps, "train")
        self.steps = steps

    def __call__(self, step, logs, context):
        context.evaluate(self.steps)


class EarlyStopping(Action):
    """Stops training when an evaluation metric stops improving.

    Args:
        metric: Key in the evaluation results, e.g. "loss/total".
        mode: "min" or "max".
        patience: Evaluations without improvement before stopping.
        min_delta: Smallest change counted as an improvement.
    """

    def __init__(
        self, metric="loss/total", mode="min", patience=10, min_delta=0.0
    ):
        super().__init__(1, "eval")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.metric, self.mode = metric, mode
        self.patience, self.min_delta = int(patience), float(min_delta)
        worst = np.inf if mode == "min" else -np.inf
        self.best = tf.Variable(worst, dtype=tf.float64, trainable=False)
        self.bad_evaluations = tf.Variable(0, dtype=tf.int64, trainable=False)

    def __call__(self, step, logs, context):
        value = metric_value(logs, self.metric)
        sign = 1.0 if self.mode == "min" else -1.0
        if sign * (self.best.numpy() - value) > self.min_delta:
            self.best.assign(value)
            self.bad_evaluations.assign(0)
            return
        self.bad_evaluations.assign_add(1)
        if self.bad_evaluations.numpy() >= self.patience:
            raise StopTraining(
                f"Early stopping at step {step}: {self.metric} has not "
                f"improved on {self.best.numpy():.6g} for {self.patience} "
                "evaluations."
            )


class ExportBest(Action):
    """Keeps the best checkpoint (by an evaluation metric) in `model_dir/best`.

    Args:
        metric: Key in the evaluation results. `{task}` in it stands for
            the run's only task (e.g. `"metric/{task}/error"` for a
            one-task run whose task a gin macro names).
        mode: "min" or "max".
        export_model: Also export the model (SavedModel and .keras) there.
        ties: Which of two equal values is kept: `"earlier"` (a new best
            must be strictly better) or `"later"` (as TAPS's
            `train_sequential.py`, which saves when `val_err <= best`).
    """

    def __init__(
        self,
        metric="loss/total",
        mode="min",
        export_model=False,
        ties="earlier",
    ):
        super().__init__(1, "eval")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        if ties not in ("earlier", "later"):
            raise ValueError(f"ties must be 'earlier' or 'later', not {ties!r}")
        self.metric, self.mode, self.export_model = metric, mode, export_model
        self.ties = ties
        worst = np.inf if mode == "min" else -np.inf
        self.best = tf.Variable(worst, dtype=tf.float64, trainable=False)

    def metric_key(self, context):
        """The results key, `{task}` filled in from the run's tasks."""
        if "{task}" not in self.metric:
            return self.metric
        names = [task.name for task in context.tasks]
        if len(names) != 1:
            raise ValueError(
                f"ExportBest metric {self.metric!r} names {{task}}, but the "
                f"run has {len(names)} tasks: {names}."
            )
        return self.metric.replace("{task}", names[0])

    def __call__(self, step, logs, context):
        key = self.metric_key(context)
        value = metric_value(logs, key)
        sign = 1.0 if self.mode == "min" else -1.0
        margin = sign * (self.best.numpy() - value)  # > 0: better
        later_tie = margin == 0 and self.ties == "later"
        if not (margin > 0 or later_tie):  # NaN never counts
            return
        self.best.assign(value)
        path = context.checkpoints.save_best(step, {key: value})
        logging.info(
            "New best %s = %.6g at step %d: %s", key, value, step, path
        )
        if self.export_model:
            context.export(context.checkpoints.best_dir)


def metric_value(logs, key):
    """`logs[key]` as a float, with the available keys in the error."""
    if key not in logs:
        raise KeyError(
            f"Metric {key!r} is not in the evaluation results; available: "
            f"{sorted(logs)}"
        )
    return float(logs[key])


def __getattr__(name):
    # `NanGuard` lives in `nan_guard` (which imports this module); the old
    # import path `tfmtl.trainers.actions.NanGuard` still works.
    if name == "NanGuard":
        from tfmtl.trainers.nan_guard import NanGuard

        return NanGuard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
