"""Joint TAPS over several data sets: one task per data set.

In the paper's joint setting (e.g. the six DomainNet domains) every task
has its own data. Two ways to train it with the ordinary trainer:

* **Round robin + accumulation** (the reference `train_joint.py`: a batch
  per domain, gradients accumulated, one step): `round_robin(tasks)` runs
  one task per micro-step on a batch of its own stream (`task_streams`), and
  `accumulation_steps=len(tasks)` turns each round into one update. Each
  task's network (its deltas and batch norm) only ever sees its own data.
* **Mixed batches**: one stream mixing all data sets (e.g. DomainNet's
  `"balanced/train"`), each example labelled only for its own task and
  `IGNORE_LABEL` for the others, with the losses of `own_data_tasks`.

Either way evaluation reads a split holding every data set with the same
per-task labels, so the controller's `metric/<task>/error` is each task's
error on its own data (the classification metrics skip negative labels).
"""

import dataclasses

import tensorflow as tf

from tfmtl.methods.taps.own_data_loss import OwnDataLoss
from tfmtl.trainers.schedules import Alternating, Plan

#: Label of an example for the tasks of the other data sets.
IGNORE_LABEL = -1


def own_data_cross_entropy(labels, logits):
    """Softmax cross-entropy per example; 0 where the label is negative.

    Args:
        labels: int tensor [B]; a negative label (`IGNORE_LABEL`) marks an
            example of another task's data set.
        logits: float tensor [B, C].

    Returns:
        float32 tensor [B].
    """
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    valid = labels >= 0
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.where(valid, labels, tf.zeros_like(labels)),
        logits=tf.cast(logits, tf.float32),
    )
    return tf.where(valid, loss, tf.zeros_like(loss))


def own_data_tasks(source, names=None):
    """The tasks of `source` with `own_data_cross_entropy` as their loss.

    Use these instead of `tfmtl.tasks.tasks_for` whenever a split holds the
    data of several tasks (evaluation always does in joint runs). A task's
    `loss/<task>` is then its data set's share of the batch-mean loss; its
    error metric counts its own examples only, and the added `OwnDataLoss`
    metric (`metric/<task>/loss`) is its mean loss on its own examples.

    Args:
        source: a classification `DataSource` (e.g. `DomainNet`).
        names: task names; default every task of `source`.

    Returns:
        A list of `tfmtl.tasks.Task`.
    """
    from tfmtl import tasks as tasks_lib

    tasks = tasks_lib.tasks_for(source, names)
    bad = [t.name for t in tasks if t.kind != "classification"]
    if bad:
        raise ValueError(f"own_data_tasks needs classification tasks: {bad}.")
    return [
        dataclasses.replace(
            t,
            loss=own_data_cross_entropy,
            metrics=(*t.metrics, OwnDataLoss(own_data_cross_entropy)),
        )
        for t in tasks
    ]


def task_streams(tasks, split="train"):
    """`{task: "<task>/<split>"}`: one training stream per task's data."""
    return {task: f"{task}/{split}" for task in tasks}


def round_robin(tasks, groups=("weights",)):
    """One task per step in turn, each reading its own stream.

    Args:
        tasks: task names (stream names as in `task_streams`).
        groups: variable groups updated every step.

    Returns:
        An `Alternating` schedule of single-task plans.
    """
    if not tasks:
        raise ValueError("round_robin needs at least one task.")
    return Alternating(
        [(Plan((task,), tuple(groups), task), 1) for task in tasks]
    )
