"""ES, random and grid search over partitions (numpy, debug rewards)."""

import numpy as np
import pytest

from tfmtl.methods.feature_partitioning import Partition
from tfmtl.methods.feature_partitioning.partition_es import PartitionES
from tfmtl.methods.feature_partitioning.partition_grid_search import (
    PartitionGridSearch,
)
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)


def _debug_reward(target):
    # The reference's es_debug objective: distance to a hidden target.
    return lambda x: -float(np.linalg.norm(target - x))


def _run(searcher, reward):
    while not searcher.done:
        searcher.tell([reward(x) for x in searcher.ask()])
    return searcher


# ES settings that converge on the debug objectives (64 * 40 samples).
_CONVERGING = dict(
    num_samples=64 * 40,
    init_random=0,
    num_deltas=32,
    num_to_use=24,
    delta_size=0.005,
    learning_rate=1.0,
    momentum=0.8,
    diag_weight_decay=0.0,
)


@pytest.mark.parametrize("seed", [0, 1])
def test_es_solves_debug_objective(seed):
    num_tasks = 3
    target = np.random.default_rng(seed + 10).uniform(0.1, 0.9, 12)
    es = PartitionES(
        num_tasks,
        **_CONVERGING,
        seed=seed,
    )
    _run(es, _debug_reward(target))
    assert np.linalg.norm(es.theta - target) < 0.01
    # Random search with the same budget is far worse.
    rs = _run(
        PartitionRandomSearch(num_tasks, num_samples=64 * 40, seed=seed),
        _debug_reward(target),
    )
    assert rs.best_score < -0.2 < es.best_score


def test_es_starts_from_best_random_sample_and_tracks_best():
    target = np.full(6, 0.3)
    es = PartitionES(
        2,
        num_samples=8 + 4 * 2,
        init_random=8,
        num_deltas=2,
        num_to_use=1,
        seed=3,
    )
    first = es.ask()
    scores = [-np.linalg.norm(target - x) for x in first]
    es.tell(scores)
    np.testing.assert_array_equal(es.theta, first[int(np.argmax(scores))])
    assert es.best_score == max(scores)
    while not es.done:
        batch = es.ask()
        assert batch.shape == (4, 6) and batch.min() >= 0 and batch.max() <= 1
        es.tell([-np.linalg.norm(target - x) for x in batch])
    assert es.num_evaluations == 16 and es.best_score >= max(scores)


def test_es_l2_pressure_reduces_feature_usage():
    es = PartitionES(
        3,
        num_samples=16 * 20,
        init_random=0,
        num_deltas=8,
        num_to_use=8,
        diag_weight_decay=0.5,
        learning_rate=0.25,
    )
    rng = np.random.default_rng(0)
    _run(es, lambda x: float(rng.normal()))  # reward carries no signal
    diag = Partition.forward_diagonal_indices(3)
    rest = np.setdiff1d(np.arange(12), diag)
    assert es.theta[diag].max() < 0.3 < es.theta[rest].mean()


def test_search_is_replayable():
    def trace(searcher):
        out = []
        while not searcher.done:
            batch = searcher.ask()
            out.append(batch)
            searcher.tell([-np.abs(x - 0.7).sum() for x in batch])
        return np.concatenate(out)

    kwargs = dict(num_samples=80, init_random=16, num_deltas=8, seed=4)
    np.testing.assert_array_equal(
        trace(PartitionES(2, **kwargs)), trace(PartitionES(2, **kwargs))
    )


def test_grid_search_enumerates_grid():
    grid = PartitionGridSearch(
        2, steps=3, space="vector", dims=[0, 2], fill=1.0, batch_size=4
    )
    seen = []
    while not grid.done:
        batch = grid.ask()
        seen.append(batch)
        grid.tell(-np.abs(batch[:, 0] - 0.5) - np.abs(batch[:, 2] - 1.0))
    seen = np.concatenate(seen)
    assert seen.shape == (9, 6)
    assert len({tuple(r) for r in seen}) == 9
    np.testing.assert_array_equal(seen[:, 1], 1.0)
    np.testing.assert_allclose(grid.best_params[[0, 2]], [0.5, 1.0])


def test_tell_checks_batch():
    rs = PartitionRandomSearch(2, num_samples=4, batch_size=4)
    with pytest.raises(ValueError, match="pending"):
        rs.tell([1.0])
    rs.ask()
    with pytest.raises(ValueError, match="Expected 4"):
        rs.tell([1.0])


def test_task_parameter_masks():
    from tfmtl.methods.feature_partitioning.partition_es import (
        task_parameter_masks,
    )

    masks = task_parameter_masks(3)
    # Pairs (0,0) (0,1) (0,2) (1,1) (1,2) (2,2), forward then backward.
    np.testing.assert_array_equal(masks[1, :6], [0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(masks[:, :6], masks[:, 6:])


def test_multiobjective_es_solves_per_task_debug_objective():
    from tfmtl.methods.feature_partitioning.partition_debug_reward import (
        DebugReward,
    )

    reward = DebugReward(3, seed=2, per_task=True)
    es = PartitionES(
        3,
        **_CONVERGING,
        multiobjective=True,
    )
    start = np.linalg.norm(es.theta - reward.target)
    while not es.done:
        results = [reward(0, x) for x in es.ask()]
        es.tell(
            [r["score"] for r in results], [r["task_scores"] for r in results]
        )
    assert start > 0.5
    assert np.linalg.norm(es.theta - reward.target) < 0.02
    with pytest.raises(ValueError, match="per-task scores"):
        bad = PartitionES(2, init_random=0, multiobjective=True)
        bad.tell(np.zeros(len(bad.ask())))


def test_es_l1_pressure_and_step_by_hand():
    # One generation by hand: 1 direction, no momentum history yet.
    es = PartitionES(
        2,
        init_random=0,
        num_deltas=1,
        num_to_use=1,
        delta_size=0.1,
        learning_rate=0.5,
        momentum=0.8,
        diag_weight_decay=0.1,
        weight_reg="l1",
    )
    theta = es.theta.copy()
    batch = es.ask()
    delta = batch[0] - theta
    es.tell([1.0, -1.0])
    scale = np.std([1.0, -1.0]) + 1e-4
    grad = -(2.0 / scale) * delta
    grad[Partition.forward_diagonal_indices(2)] += 0.1  # sign(theta) = 1
    expected = np.clip(theta - 0.5 * (grad + 0.8 * grad), 0, 1)
    np.testing.assert_allclose(es.theta, expected, rtol=1e-12)


def test_bad_es_settings_are_clear_errors():
    with pytest.raises(ValueError, match="weight_reg"):
        PartitionES(2, weight_reg="l3")
    with pytest.raises(ValueError, match="num_to_use"):
        PartitionES(2, num_deltas=2, num_to_use=3)
    es = PartitionES(2, init_random=4)
    es.ask()
    with pytest.raises(ValueError, match="task scores of shape"):
        es.tell(np.zeros(4), np.zeros((4, 3)))


def test_es_exports_its_mean_theta_as_well_as_the_best_sample():
    es = PartitionES(2, init_random=4, num_deltas=3, num_to_use=2, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(4):
        es.tell(rng.random(len(es.ask())))
    entry = es.describe(es.best_params)
    np.testing.assert_array_equal(entry["mean_params"], es.theta)
    assert (
        entry["mean_partition"]
        == Partition.from_vector(es.theta, 2).get_config()
    )
    assert entry["best_partition"] == (
        Partition.from_vector(es.best_params, 2).get_config()
    )
    assert not np.allclose(es.theta, es.best_params)
    # A retrain can read it as it reads the best partition.
    mean = Partition.get({"best_partition": entry["mean_partition"]}, 2)
    assert mean.get_config() == entry["mean_partition"]
