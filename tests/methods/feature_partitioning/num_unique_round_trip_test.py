"""`num_unique` > 1 from the search to the child and to the retraining.

As the reference (`meta/param/partition.py`, `models/masked_resnet.py`):
a candidate holds `num_unique` partitions, shallowest first, and
convolution l of the trunk (stem, then conv1 / conv2 of each block) uses
partition `l // ceil(L / num_unique)`; that map is rebuilt here.
"""

import json
import math
import os

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.feature_partitioning import (
    FeaturePartitioning,
    Partition,
    partition_jobs,
)
from tfmtl.methods.feature_partitioning.distillation import Distillation
from tfmtl.methods.feature_partitioning.partition_candidate import (
    PartitionCandidate,
)
from tfmtl.methods.feature_partitioning.unique_partitions import (
    get_partitions,
)
from tfmtl.models.multitask_model import MultiTaskModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
SYNTHETIC = ["attr_a0", "attr_a1", "attr_b0", "attr_c0"]  # synthetic_tasks


def _groups(num_layers, num_unique):
    """`masked_resnet.Net.__init__`: layer l -> l // ceil(L / U)."""
    rate = math.ceil(num_layers / num_unique)
    return [layer // rate for layer in range(num_layers)]


def _conv1_groups(blocks, num_unique):
    """Group of each block's conv1 (layer 1 + 2 b in `get_layer_ref`)."""
    groups = _groups(1 + 2 * len(blocks), num_unique)
    return [groups[1 + 2 * b] for b in range(len(blocks))]


def _teacher(source, task, widths):
    (spec,) = tasks_lib.tasks_for(source, [task])
    model = MultiTaskModel(
        FeaturePartitioning((task,), "share_all", widths, blocks_per_stage=1),
        {task: spec.head()},
    )
    model(tf.zeros((1, 16, 16, 3)))
    return model


@pytest.mark.large
def test_search_candidate_reaches_the_distillation_student(tmp_path):
    keras.utils.set_random_seed(0)
    tasks, widths = ("attr_a0", "attr_b0"), (8, 8, 16)
    source = SyntheticScenes(
        image_size=16, num_train=64, num_validation=16, num_test=8
    )
    teachers = {t: _teacher(source, t, widths) for t in tasks}
    vector = np.concatenate(
        [
            Partition.independent(2).to_vector(),
            Partition.share_all(2).to_vector(),
        ]
    )
    (flag,) = PartitionCandidate(2, num_unique=2)(vector, str(tmp_path))
    path = flag.split("=", 1)[1]
    with open(path) as f:
        assert len(json.load(f)["partitions"]) == 2
    scorer = Distillation(
        teachers, source, steps=2, batch_size=4, eval_examples=8
    )
    student, losses = scorer.distil(path)
    assert sorted(losses) == sorted(tasks)
    blocks = student.backbone.blocks
    for block, group in zip(blocks, _conv1_groups(blocks, 2), strict=True):
        fwd = np.asarray(block.conv1.forward_mask)
        if group == 0:  # independent: disjoint halves
            assert fwd.sum(0).max() == 1 and (fwd.sum(1) == 4).all()
        else:  # share_all: every channel
            assert (fwd == 1).all()
    assert _conv1_groups(blocks, 2) == [0, 1]


@pytest.mark.large
def test_search_then_retrain_with_two_partitions(tmp_path, run_gin_experiment):
    search_dir = tmp_path / "search"
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            ["gin_configs/feature_partitioning/es_synthetic.gin"],
            [
                f"SEARCH_DIR = '{search_dir}'",
                "WORKER_MODE = 'debug'",
                "NUM_UNIQUE = 2",
                "NUM_SAMPLES = 32",
                "NUM_WORKERS = 1",
            ],
        )
        summary = gin.get_configurable(partition_jobs.search)()
    finally:
        gin.clear_config()
    assert summary["num_evaluations"] == 32
    half = len(SYNTHETIC) * (len(SYNTHETIC) + 1)
    best = np.asarray(summary["best_params"])
    assert best.shape == (2 * half,)
    expected = [
        Partition.from_vector(part, len(SYNTHETIC))
        for part in np.split(best, 2)
    ]
    path = str(search_dir / "best.json")
    loaded = get_partitions(path, len(SYNTHETIC))
    assert [p.get_config() for p in loaded] == [
        p.get_config() for p in expected
    ]
    # The ES mean is a list of two partitions as well.
    assert len(summary["mean_partition"]) == 2

    _, (controller,) = run_gin_experiment(
        ["gin_configs/feature_partitioning/partitioned_synthetic.gin"],
        [
            f"PARTITION = '{path}'",
            f"MODEL_DIR = '{tmp_path / 'retrain'}'",
            "IMAGE_SIZE = 16",
            "NUM_TRAIN = 64",
            "NUM_VALIDATION = 16",
            "FP_WIDTHS = (4, 8, 8)",
            "BLOCKS_PER_STAGE = 1",
            "GLOBAL_BATCH_SIZE = 8",
            "TRAIN_STEPS = 2",
            "EVAL_EVERY = None",
            "EVAL_STEPS = 1",
        ],
    )
    assert controller.step == 2
    sharing = controller.model.sharing
    assert sharing.num_unique == 2
    blocks = sharing.backbone.blocks
    groups = _conv1_groups(blocks, 2)
    assert groups == [0, 1]
    for block, group in zip(blocks, groups, strict=True):
        # Masks are solved per partition (seed 0 for the first one, as a
        # single partition, [0, group] for the others).
        seed = 0 if group == 0 else [0, group]
        fwd, bwd = expected[group].masks(block.conv1.filters, seed=seed)
        np.testing.assert_array_equal(np.asarray(block.conv1.forward_mask), fwd)
        np.testing.assert_array_equal(
            np.asarray(block.conv1.backward_mask), bwd
        )
