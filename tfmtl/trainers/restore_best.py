"""Restore the best validation checkpoint at the end, then score the test set.

TAG's CelebA colab stops early on the summed validation loss, restores the
weights of the best epoch and reports the test split with them. `RestoreBest`
does the same for any run: on every evaluation it keeps the best state in
`model_dir/best/` (as `ExportBest`), and when training ends (early stop or
last step) it loads that checkpoint's model variables and evaluates `split`,
writing `model_dir/best_results.json`:

    {"step": best step, "metric": ..., "value": ...,
     "validation": {results at the best step},
     "split": "test", "test": {results of the restored weights}}
"""

import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfmtl.trainers import checkpointing, summaries
from tfmtl.trainers.actions import Action, metric_value

BEST_RESULTS = "best_results.json"


class RestoreBest(Action):
    """Keeps the best checkpoint; at the end restores it and scores a split.

    The model keeps the restored weights after training, so the run's last
    checkpoint and an export hold the best weights, as in the colab.

    Args:
        metric: Key in the evaluation results, e.g. "loss/total".
        mode: "min" or "max". Only a strict improvement counts, so of equal
            values the earliest wins (the colab's strict comparison).
        split: The split scored with the restored weights.

    Example:
    ```python
    ACTIONS = [EarlyStopping(patience=10), RestoreBest("loss/total")]
    # model_dir/best_results.json: {"step": ..., "test": {...}, ...}
    ```

    Reference:
        Fifty et al., "Efficiently Identifying Task Groupings for
        Multi-Task Learning", NeurIPS 2021; google-research
        `tag/celeba/CelebA.ipynb`.
    """

    def __init__(self, metric="loss/total", mode="min", split="test"):
        super().__init__(1, "eval")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        if not split:
            raise ValueError(f"split must be a split name, not {split!r}")
        self.metric, self.mode, self.split = metric, mode, str(split)
        worst = np.inf if mode == "min" else -np.inf
        self.best = tf.Variable(worst, dtype=tf.float64, trainable=False)
        self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False)

    def __call__(self, step, logs, context):
        value = metric_value(logs, self.metric)
        best = self.best.numpy()
        better = value < best if self.mode == "min" else value > best
        if not better:
            return
        self.best.assign(value)
        self.best_step.assign(step)
        metrics = {self.metric: value, "validation": dict(logs)}
        path = context.checkpoints.save_best(step, metrics)
        logging.info(
            "Best %s = %.6g at step %d: %s", self.metric, value, step, path
        )

    def restore_model(self, context):
        """Loads the model variables of the best checkpoint; returns its
        path (an unreadable one is reported and the previous best used)."""

        def read(path):
            checkpointing.check_fits(path, context.model, "model")
            state = tf.Module()
            state.model = checkpointing.keyed(context.model)
            # `check_fits` has matched every model variable by name and
            # shape; the rest of the run's state (step, optimizers,
            # actions) stays.
            tf.train.Checkpoint(state=state).restore(path).expect_partial()

        path, _ = context.checkpoints.read_best(read)
        return path

    def finalize(self, context):
        """Restores the best weights and writes `best_results.json`."""
        step = int(self.best_step.numpy())
        if step < 0:
            logging.warning("RestoreBest: no evaluation ran; nothing restored.")
            return None
        # compat: the colab restores and scores test only when early stopping
        # fires (a run that reaches the last epoch keeps its final weights);
        # here the best weights are restored at any end of training. Its
        # test accuracy divides the correct count by the validation size
        # (`EVAL_SIZE` with eval='valid') and its loss averages batch means;
        # here both are means over the test examples.
        path = self.restore_model(context)
        evaluator = context.evaluator
        totals = evaluator.statistics(split=self.split)
        if not totals:
            raise ValueError(f"Split {self.split!r} is empty.")
        scored = evaluator.results(totals)
        payload = {
            "step": step,
            "checkpoint": path,
            "metric": self.metric,
            "value": float(self.best.numpy()),
            "validation": self._validation(context),
            "split": self.split,
            "test": scored,
        }
        context.writer.scalars(f"best_{self.split}", scored, step)
        if context.is_chief:
            summaries.write_json(
                os.path.join(context.model_dir, BEST_RESULTS), payload
            )
        logging.info("Best step %d on %s: %s", step, self.split, scored)
        return payload

    def _validation(self, context):
        """The evaluation results at the best step, from `best/best.json`."""
        path = os.path.join(context.checkpoints.best_dir, "best.json")
        if not tf.io.gfile.exists(path):
            return {}
        with tf.io.gfile.GFile(path) as f:
            return json.load(f).get("validation", {})
