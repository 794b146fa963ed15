"""The evaluation action keeping AdaShare's best learned policy so far."""

import numpy as np
import tensorflow as tf
from absl import logging

from tfmtl.sharing.adashare.save_policy import save
from tfmtl.trainers.actions import Action, metric_value


class SaveBestPolicy(Action):
    """After each evaluation, keeps the policy with the best metric so far.

    Policy learning is noisy (Gumbel samples, alternating phases), so the
    policy at the last step need not be the best one seen. When the metric
    improves, the current policy is written as `model_dir/policy/
    best_policy.json` and `best_policy.png` (the payload of `SavePolicy`
    plus `metric` and `value`); sample architectures from it with
    `python -m tfmtl.adashare --phase=sample --policy_file=...`. The best
    value is checkpointed, so a resumed run keeps comparing against it.

    # compat: the reference keeps the policy-learning checkpoint that scores
    # best on the *test* split; this uses whatever split the run evaluates
    # (the validation split in our configs).

    Args:
        metric: key in the evaluation results, e.g. "loss/total" or
            "metric/depth/abs_err".
        mode: "min" or "max".

    Example:
    ```python
    actions = [SaveBestPolicy("metric/segmentation/miou", mode="max")]
    ```
    """

    def __init__(self, metric="loss/total", mode="min"):
        super().__init__(1, "eval")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.metric, self.mode = metric, mode
        worst = np.inf if mode == "min" else -np.inf
        self.best = tf.Variable(worst, dtype=tf.float64, trainable=False)

    def __call__(self, step, logs, controller):
        value = metric_value(logs, self.metric)
        best = float(self.best.numpy())
        if not (value < best if self.mode == "min" else value > best):
            return
        self.best.assign(value)
        extra = {"metric": self.metric, "value": value}
        if save(controller, step, "best_policy", extra) is not None:
            logging.info(
                "Best policy so far: %s = %.6g at step %d",
                self.metric,
                value,
                step,
            )
