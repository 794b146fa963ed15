"""The grid baseline on 9 tasks: the reference's fixed-sharing grid.

Reference: google/multi-task-architecture-search,
`config/exps/fixed_sharing_baselines.py` (grid, `n_steps` 5, over
`config/cmd/fixed_sharing.txt`: `--share_amt` linear on [0, 1]),
`meta/optim/grid.py::MetaOptimizer.setup_samples` (`np.linspace(0, 1, n)`
per searched argument) and the `share_fixed` masks of
`meta/param/partition.py::PartitionManager.find_masks`.
"""

import json
import os

import gin
import numpy as np
import pytest

from tests.methods.feature_partitioning.references import (
    reference_share_fixed,
)
from tfmtl.methods.feature_partitioning import partition_jobs
from tfmtl.methods.feature_partitioning.partition_candidate import (
    PartitionCandidate,
)
from tfmtl.methods.feature_partitioning.partition_grid_search import (
    PartitionGridSearch,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def _reference_grid(n_steps):
    """`grid.py`: `np.linspace(0, 1, n)` mapped linearly onto [0, 1]."""
    return np.linspace(0.0, 1.0, n_steps) * (1.0 - 0.0) + 0.0


def test_nine_task_grid_is_the_reference_fixed_sharing_grid(tmp_path):
    grid = PartitionGridSearch(9, batch_size=2, num_samples=10000)
    seen = []
    while not grid.done:
        batch = grid.ask()
        assert batch.shape[1] == 90
        seen.append(batch)
        grid.tell(np.zeros(len(batch)))
    seen = np.concatenate(seen)
    assert len(seen) == 5 == len({tuple(r) for r in seen})
    candidate = PartitionCandidate(9, grid.partition)
    for params, amount in zip(seen, _reference_grid(5)):
        partition = grid.partition(params)
        assert partition.fixed_share == pytest.approx(amount)
        for channels in (32, 256):
            fwd, bwd = partition.masks(channels)
            expected = reference_share_fixed(9, channels, amount)
            np.testing.assert_array_equal(fwd, expected)
            np.testing.assert_array_equal(bwd, expected)
        # What a distillation child reads.
        (flag,) = candidate(params, str(tmp_path))
        with open(flag.split("=", 1)[1]) as f:
            assert json.load(f)["fixed_share"] == pytest.approx(amount)


def test_grid_search_runs_on_the_decathlon_config(tmp_path):
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            ["gin_configs/feature_partitioning/grid_search.gin"],
            [f"SEARCH_DIR = '{tmp_path}'", "WORKER_MODE = 'debug'"],
        )
        summary = gin.get_configurable(partition_jobs.search)()
    finally:
        gin.clear_config()
    assert summary["num_evaluations"] == 5 and not summary["failed"]
    best = summary["best_partition"]
    assert len(best["forward"]) == 9 and "fixed_share" in best


def test_vector_grid_must_be_small_and_complete():
    with pytest.raises(ValueError, match="needs the dims"):
        PartitionGridSearch(9, space="vector")
    with pytest.raises(ValueError, match="exceeds max_points"):
        PartitionGridSearch(9, steps=5, space="vector", dims=range(90))
    with pytest.raises(ValueError, match="truncated grid"):
        PartitionGridSearch(
            3, steps=3, space="vector", dims=[0, 1, 2], num_samples=10
        )
