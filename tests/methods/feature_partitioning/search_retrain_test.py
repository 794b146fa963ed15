"""A search's best.json is the PARTITION of a retraining run."""

import functools
import json
import os

import numpy as np
import pytest

from tfmtl.methods.feature_partitioning import Partition, partition_jobs
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)

TASKS = ["attr_a0", "attr_a1", "attr_b0", "attr_c0"]  # synthetic_tasks.gin


@pytest.fixture
def best_json(tmp_path):
    search_dir = tmp_path / "search"
    summary = partition_jobs.search(
        search_dir=str(search_dir),
        searcher=functools.partial(
            PartitionRandomSearch, num_samples=8, batch_size=4, seed=3
        ),
        num_tasks=len(TASKS),
        worker_mode="debug",
        num_workers=1,
    )
    path = os.path.join(search_dir, "best.json")
    with open(path) as f:
        assert json.load(f)["best_params"] == summary["best_params"]
    return path, summary


def test_best_json_round_trip_into_partitioned_training(
    best_json, tmp_path, run_gin_experiment
):
    path, summary = best_json
    expected = Partition.from_vector(
        np.asarray(summary["best_params"]), len(TASKS)
    )
    loaded = Partition.get(path, len(TASKS))
    np.testing.assert_allclose(loaded.forward, expected.forward)
    np.testing.assert_allclose(loaded.backward, expected.backward)
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
    np.testing.assert_allclose(sharing.partition.forward, expected.forward)
    for conv in sharing.backbone.masked_convs():
        fwd, bwd = expected.masks(conv.filters, seed=0)
        np.testing.assert_array_equal(np.asarray(conv.forward_mask), fwd)


def test_summary_without_a_best_partition_is_a_clear_error():
    with pytest.raises(ValueError, match="best_partition"):
        Partition.get({"best_partition": None, "best_score": -1.0}, 2)
