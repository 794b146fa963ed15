"""Feeds evaluation accuracies to an `AccuracySampledTask` schedule."""

import numpy as np
import tensorflow as tf

from tfmtl.trainers.actions import Action


class UpdateTaskSampling(Action):
    """After each step, gives the schedule the latest evaluation accuracies.

    Runs as a train-time action every step: when `controller.last_evaluation`
    is newer than what it has seen, it stores `metric/<task>/<metric>` in a
    checkpointed variable; it then hands the stored values to
    `controller.schedule.set_accuracies`, so a resumed run samples with the
    accuracies of its last evaluation from its first step on.

    # compat: the reference uses a running average of training accuracy;
    # the trainer here logs training losses only, so evaluation accuracy
    # drives the curriculum.

    Args:
        tasks: Task names, in order.
        metric: Metric name in the evaluation results.
    """

    def __init__(self, tasks, metric="accuracy"):
        super().__init__(every_n_steps=1, on="train")
        self.task_names, self.metric = tuple(tasks), metric
        self.accuracies = tf.Variable(
            np.full(len(self.task_names), -1.0), trainable=False
        )
        self.seen_step = tf.Variable(-1, dtype=tf.int64, trainable=False)

    def __call__(self, step, logs, controller):
        evaluation = controller.last_evaluation
        if evaluation and evaluation["step"] != int(self.seen_step.numpy()):
            results = evaluation["results"]
            self.accuracies.assign(
                [
                    results.get(f"metric/{t}/{self.metric}", 0.0)
                    for t in self.task_names
                ]
            )
            self.seen_step.assign(evaluation["step"])
        values = self.accuracies.numpy()
        if values.min() >= 0 and hasattr(controller.schedule, "set_accuracies"):
            controller.schedule.set_accuracies(
                dict(zip(self.task_names, values.tolist()))
            )
