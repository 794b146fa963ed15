"""The ten Visual Decathlon tasks: names, classes and tfmtl tasks.

`decathlon_tasks` makes the classification tasks of a `Decathlon` source,
whose losses skip the other data sets' images (labelled -1); the helpers
below map task names to per-task splits, data streams and the reference
accuracies of the distillation score.
"""

import dataclasses

import tensorflow as tf

from tfmtl import losses
from tfmtl.tasks import make_task

#: Decathlon task order of the reference (index 0 is only pre-training).
TASKS = (
    "imagenet12",
    "aircraft",
    "cifar100",
    "daimlerpedcls",
    "dtd",
    "gtsrb",
    "vgg-flowers",
    "omniglot",
    "svhn",
    "ucf101",
)
NUM_CLASSES = {
    "imagenet12": 1000,
    "aircraft": 100,
    "cifar100": 100,
    "daimlerpedcls": 2,
    "dtd": 47,
    "gtsrb": 43,
    "vgg-flowers": 102,
    "omniglot": 1623,
    "svhn": 10,
    "ucf101": 101,
}
NO_FLIP = ("gtsrb", "omniglot", "svhn")
#: Accuracy that scores 1 in the reference's distillation score (per task).
DISTILLATION_REFERENCE = {
    "imagenet12": 0.63,
    "aircraft": 0.55,
    "cifar100": 0.80,
    "daimlerpedcls": 1.0,
    "dtd": 0.51,
    "gtsrb": 1.0,
    "vgg-flowers": 0.85,
    "omniglot": 0.89,
    "svhn": 0.96,
    "ucf101": 0.85,
}


def masked_cross_entropy(labels, logits):
    """Softmax cross-entropy; labels outside [0, C) give zero loss."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    valid = (labels >= 0) & (labels < tf.shape(logits)[-1])
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    loss = losses.softmax_cross_entropy(safe, logits)
    return tf.where(valid, loss, tf.zeros_like(loss))


def decathlon_tasks(source, names=None, dropout=0.3):
    """Classification tasks of `source` whose loss skips other tasks' images.

    # compat: on the joint evaluation split, `loss/<task>` is averaged over
    # every image (other tasks' images count as zero loss); the accuracy
    # metrics count only the task's own images.

    Args:
        source: A `Decathlon`.
        names: Task names (default: all of the source's).
        dropout: Dropout before each head's classifier (reference 0.3).
    """
    from tfmtl.models.heads import ClassifierHead

    out = []
    for name in names or source.task_names:
        task = make_task(
            name,
            "classification",
            num_classes=NUM_CLASSES[name],
            head=lambda num_outputs: ClassifierHead(
                num_outputs, dropout=dropout
            ),
        )
        out.append(dataclasses.replace(task, loss=masked_cross_entropy))
    return out


def task_splits(tasks, split="train"):
    """`{task: "<split>/<task>"}`: per-task splits (or data streams)."""
    return {t: f"{split}/{t}" for t in tasks}


def distillation_reference(tasks):
    """`{task: accuracy}` scoring 1 in the distillation score (reference)."""
    return {t: DISTILLATION_REFERENCE[t] for t in tasks}


def stream_names(tasks):
    """`{task: task}`: the data stream of each task's training steps."""
    return {t: t for t in tasks}
