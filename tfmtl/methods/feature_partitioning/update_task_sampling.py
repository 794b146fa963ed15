"""Feeds per-task accuracies to an `AccuracySampledTask` schedule."""

import numpy as np
import tensorflow as tf

from tfmtl.trainers.actions import Action

SOURCES = ("train", "eval")


class UpdateTaskSampling(Action):
    """Keeps each task's accuracy and hands it to the sampling schedule.

    With `source="train"` (the reference's `train_accuracy` curriculum) the
    action is also a probe: on the steps it measures, it recomputes the
    step's predictions on the step's own batch (`stateless_call` with the
    current weights, training mode, so BatchNorm statistics are not touched)
    and counts correct top-1 predictions of the trained task; its running
    average `acc <- decay * acc + (1 - decay) * batch_accuracy` starts at 0
    for every task, except that the first measurement of a run is taken as
    it is (as the reference's running log). Measuring every n-th step uses
    `decay ** n`, so the average spans the same number of steps.

    With `source="eval"` it takes `metric/<task>/<metric>` of the latest
    evaluation instead.

    The accuracies are checkpointed variables, so a resumed run samples as
    the interrupted one would have. After every step the schedule receives
    them through `set_accuracies`.

    # compat: measuring costs one extra forward pass of the trained task on
    # the measured steps (the reference reads the accuracy off the training
    # forward pass, which the trainer does not expose); use
    # `every_n_steps` > 1 to amortise it.

    Args:
        tasks: Task names, in order.
        source: "train" (running training accuracy) or "eval".
        metric: Metric name in the evaluation results (`source="eval"`).
        decay: Running-average decay per step (reference 0.99).
        every_n_steps: Measure every this many steps (`source="train"`).

    Reference:
        Newell et al., arXiv:1908.04339 (`curriculum="train_accuracy"`).
    """

    name = "task_sampling"

    def __init__(
        self,
        tasks,
        source="train",
        metric="accuracy",
        decay=0.99,
        every_n_steps=1,
    ):
        super().__init__(every_n_steps=1, on="train")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}: {source!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1): {decay}")
        self.task_names, self.source = tuple(tasks), source
        self.metric, self.decay = metric, float(decay)
        self.probe_every_n_steps = int(every_n_steps)
        start = 0.0 if source == "train" else -1.0
        self.accuracies = tf.Variable(
            np.full(len(self.task_names), start), trainable=False
        )
        self.seen_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
        self.measurements = tf.Variable(0, dtype=tf.int64, trainable=False)

    # --------------------------------------------------- training accuracy
    def wants(self, plan, context):
        """Probes training steps when following training accuracy.

        Not when the schedule ignores accuracies (uniform, round robin).
        """
        mode = getattr(context.schedule, "mode", "accuracy")
        return (
            self.source == "train"
            and mode == "accuracy"
            and any(t in self.task_names for t in plan.tasks)
        )

    def replica_probe(self, context):
        """Correct and counted labels of the step's batch; traced."""
        model, batch, plan = context.model, context.batch, context.plan
        outputs, _ = model.stateless_call(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            batch["image"],
            tasks=plan.tasks,
            training=True,
        )
        correct, count = [], []
        for task in self.task_names:
            if task not in plan.tasks:
                correct.append(tf.constant(0.0))
                count.append(tf.constant(0.0))
                continue
            logits = tf.cast(outputs[task], tf.float32)
            labels = tf.cast(tf.reshape(batch["labels"][task], [-1]), tf.int64)
            valid = (labels >= 0) & (labels < tf.shape(logits, tf.int64)[-1])
            hits = tf.equal(tf.argmax(logits, axis=-1), labels) & valid
            correct.append(tf.reduce_sum(tf.cast(hits, tf.float32)))
            count.append(tf.reduce_sum(tf.cast(valid, tf.float32)))
        return {"correct": tf.stack(correct), "count": tf.stack(count)}

    def record(self, step, results, context):
        """Updates the running averages of the measured tasks (host)."""
        del step, context
        correct = np.asarray(results["correct"], np.float64)
        count = np.asarray(results["count"], np.float64)
        decay = self.decay**self.probe_every_n_steps
        values = self.accuracies.numpy()
        for i in np.flatnonzero(count > 0):
            batch = correct[i] / count[i]
            if int(self.measurements.numpy()) == 0:
                values[i] = batch
            else:
                values[i] = decay * values[i] + (1.0 - decay) * batch
        self.accuracies.assign(values)
        self.measurements.assign_add(1)

    # ------------------------------------------------------------ each step
    def __call__(self, step, logs, context):
        evaluation = context.last_evaluation
        if (
            self.source == "eval"
            and evaluation
            and evaluation["step"] != int(self.seen_step.numpy())
        ):
            results = evaluation["results"]
            self.accuracies.assign(
                [
                    results.get(f"metric/{t}/{self.metric}", 0.0)
                    for t in self.task_names
                ]
            )
            self.seen_step.assign(evaluation["step"])
        values = self.accuracies.numpy()
        if values.min() >= 0 and hasattr(context.schedule, "set_accuracies"):
            context.schedule.set_accuracies(
                dict(zip(self.task_names, values.tolist()))
            )
