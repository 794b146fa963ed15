"""The mask solver against an independent float64 version of the reference.

The reference is google/multi-task-architecture-search, `util/calc.py`
(`mask_solver`, called by `find_masks` with 100 draws per task from
`meta/param/partition.py::PartitionManager.find_masks`), and the direct
`share_fixed` construction of `PartitionManager.find_masks`.
"""

import numpy as np
import pytest

from tests.methods.feature_partitioning.references import (
    reference_share_fixed,
)
from tfmtl.methods.feature_partitioning import Partition

CHANNELS = 256


def _reference_mask_solver(pw, n_iters, rng, filt=None):
    """`util/calc.py::mask_solver` on absolute counts `pw` [N, N] (float64).

    Task 0 takes its first channels; task t draws `pw[t, t]` channels
    without replacement with probability proportional to the product over
    earlier tasks s of `pw[s, t] / (d_s d_t)` inside mask s and
    `(d_t - pw[s, t]) / ((C - d_s) d_t)` outside (no floor; uniform when
    all weights vanish), keeping the draw whose overlap counts are closest
    (L2) to the targets.
    """
    n, channels = pw.shape[0], CHANNELS
    diag = pw.diagonal().astype(np.float64)
    mask = np.zeros((n, channels))
    mask[0, : int(pw[0, 0])] = 1
    for t in range(1, n):
        prob = np.ones(channels) if filt is None else filt[t].astype(float)
        for s in range(t):
            inside = pw[s, t] / max(1.0, diag[s] * diag[t])
            outside = (diag[t] - pw[s, t]) / max(
                1.0, (channels - diag[s]) * diag[t]
            )
            prob = prob * np.where(mask[s] > 0, inside, outside)
        if prob.sum() == 0:
            prob = np.ones(channels)
        prob = prob / prob.sum()
        count = int(min((prob > 0).sum(), diag[t]))
        best = np.inf
        for _ in range(n_iters):
            row = np.zeros(channels)
            row[rng.choice(channels, count, replace=False, p=prob)] = 1
            dist = np.linalg.norm(mask[:t] @ row - pw[:t, t])
            if dist < best:
                best, mask[t] = dist, row
    return mask


def _targets(partition):
    return np.floor(partition.overlaps() * CHANNELS + 1e-3)


def _pairwise_error(masks, targets):
    got = masks.astype(np.float64) @ masks.T.astype(np.float64)
    upper = np.triu_indices(len(targets), 1)
    return np.abs(got - targets)[upper].mean()


def _random_partitions(count=12, num_tasks=9):
    rng = np.random.default_rng(2024)
    return [Partition.random(num_tasks, rng) for _ in range(count)]


def test_nine_task_overlaps_as_close_as_the_reference():
    ours, ref = [], []
    rng = np.random.default_rng(7)
    for k, p in enumerate(_random_partitions()):
        targets = _targets(p)
        fwd, _ = p.masks(CHANNELS, seed=k)
        np.testing.assert_array_equal(fwd.sum(1), np.diag(targets))
        ours.append(_pairwise_error(fwd, targets))
        ref.append(
            _pairwise_error(_reference_mask_solver(targets, 100, rng), targets)
        )
    ours, ref = float(np.mean(ours)), float(np.mean(ref))
    # Measured: ours 7.63 channels, the reference 7.58; the former
    # absolute 1e-12 floor on the weights gave 11.42 (near-uniform draws
    # for the later tasks).
    assert ours <= 1.1 * ref, (ours, ref)


def test_later_tasks_still_follow_the_partition():
    """Adversarial: weights that are products of 8 tiny factors."""
    fwd, bwd = Partition.independent(9).masks(CHANNELS)
    # 28 channels each, pairwise disjoint: the 9th task's weights are
    # ~(1/228)^8 outside the earlier masks and exactly 0 inside.
    np.testing.assert_array_equal(fwd @ fwd.T, 28 * np.eye(9))
    np.testing.assert_array_equal(bwd, fwd)
    # Nested targets (k = n_s) for every pair: all tasks read the first
    # 64 channels, so every later task must land inside them.
    nested = np.zeros((9, CHANNELS))
    nested[:, :64] = 1
    fwd, _ = Partition.from_masks(nested, nested).masks(CHANNELS)
    np.testing.assert_array_equal(fwd, nested)


def test_backward_masks_match_the_reference_inside_forward_masks():
    rng = np.random.default_rng(3)
    ours, ref = [], []
    for k, p in enumerate(_random_partitions(count=6)):
        fwd, bwd = p.masks(CHANNELS, seed=k)
        assert np.all(bwd <= fwd)
        targets = np.floor(p.backward_overlaps() * CHANNELS + 1e-3)
        np.testing.assert_array_equal(bwd.sum(1), np.diag(targets))
        ours.append(_pairwise_error(bwd, targets))
        ref_bwd = _reference_mask_solver(targets, 100, rng, filt=fwd)
        ref.append(_pairwise_error(ref_bwd, targets))
    assert np.mean(ours) <= 1.1 * np.mean(ref), (ours, ref)


@pytest.mark.parametrize(
    "num_tasks,channels,share", [(9, 256, 0.5), (9, 32, 0.75), (4, 64, 0.0)]
)
def test_share_fixed_counts_are_the_references(num_tasks, channels, share):
    p = Partition.get(f"share_fixed:{share}", num_tasks)
    fwd, bwd = p.masks(channels)
    expected = reference_share_fixed(num_tasks, channels, share)
    np.testing.assert_array_equal(fwd, expected)
    np.testing.assert_array_equal(bwd, expected)
    if (num_tasks, channels, share) == (9, 256, 0.5):
        # 14 private channels per task, 130 read by all nine.
        assert int(fwd.all(axis=0).sum()) == 130
        np.testing.assert_array_equal(fwd.sum(1), 144)
    # The preset survives serialisation.
    again = Partition.get(p.get_config(), num_tasks)
    np.testing.assert_array_equal(again.masks(channels)[0], expected)
