"""Distillation scores rank partitions (synthetic data, tiny teachers)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes, make_dataset
from tfmtl.methods.feature_partitioning import FeaturePartitioning, Partition
from tfmtl.methods.feature_partitioning.distillation import Distillation
from tfmtl.models.multitask_model import MultiTaskModel

TASKS = ("attr_a0", "attr_b0")
WIDTHS = (8, 8, 16)


def _teacher(source, task, steps=60):
    keras.utils.set_random_seed(0)
    (spec,) = tasks_lib.tasks_for(source, [task])
    model = MultiTaskModel(
        FeaturePartitioning(
            (task,), "share_all", widths=WIDTHS, blocks_per_stage=1
        ),
        {task: spec.head()},
    )
    model(tf.zeros((1, 16, 16, 3)))
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            out = model(batch["image"], training=True)[task]
            loss = tf.reduce_mean(spec.loss(batch["labels"][task], out))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    data = make_dataset(source, "train", (task,), 32, seed=1)
    for batch in data.take(steps):
        step(batch)
    return model


@pytest.fixture(scope="module")
def source():
    return SyntheticScenes(
        image_size=16, num_train=512, num_validation=128, num_test=16
    )


@pytest.fixture(scope="module")
def teachers(source):
    return {t: _teacher(source, t) for t in TASKS}


def test_distillation_ranks_good_partition_above_bad(source, teachers):
    scorer = Distillation(
        teachers,
        source,
        steps=90,
        batch_size=16,
        learning_rate=0.05,
        lr_drop_step=80,
        eval_examples=64,
    )
    assert min(scorer.teacher_accuracy().values()) > 0.6
    good = scorer.score(Partition.share_all(2))
    # No task reads any channel of the masked convolutions.
    starved = Partition.from_vector([0.0, 0.0, 0.0, 1.0, 0.0, 1.0], 2)
    bad = scorer.score(starved)
    assert good["score"] > bad["score"] + 0.08, (good, bad)
    assert good["score"] > 0.85
    for t in TASKS:
        assert 0.0 <= bad[f"accuracy/{t}"] <= 1.0
        assert bad[f"loss/{t}"] > good[f"loss/{t}"]


def test_every_task_drops_its_rate_at_the_global_step(source, teachers):
    """The reference (`main.py::train`) divides the rate of every optimizer
    by 10 after global step `drop_learning_rate` (2,000 of 3,000 steps),
    although with N tasks in turn each optimizer takes only 1 / N of the
    steps."""
    scorer = Distillation(
        teachers,
        source,
        steps=10,
        batch_size=4,
        learning_rate=0.05,
        lr_drop_step=6,
        eval_examples=8,
    )
    scorer.distil(Partition.share_all(2))
    for task in TASKS:
        optimizer = scorer.optimizers[task]
        # 5 steps each, fewer than the drop step: the global step decides.
        assert int(optimizer.iterations) == 5
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.005)
