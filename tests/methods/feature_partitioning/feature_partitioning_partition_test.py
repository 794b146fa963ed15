"""Partition matrices, validation and the mask solver."""

import numpy as np
import pytest

from tfmtl.methods.feature_partitioning import Partition


def _random_partition(seed, n=4):
    rng = np.random.default_rng(seed)
    return Partition.from_vector(rng.uniform(0.1, 1.0, n * (n + 1)), n)


def test_vector_round_trip_and_symmetry():
    p = _random_partition(0)
    q = Partition.from_vector(p.to_vector(), 4)
    np.testing.assert_allclose(q.forward, p.forward)
    np.testing.assert_allclose(p.forward, p.forward.T)
    assert len(p.to_vector()) == Partition.vector_size(4) == 20


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mapped_overlaps_are_feasible(seed):
    p = _random_partition(seed)
    d, o = p.usage(), p.overlaps()
    for i in range(4):
        for j in range(4):
            if i != j:
                assert max(0, d[i] + d[j] - 1) - 1e-3 <= o[i, j]
                assert o[i, j] <= min(d[i], d[j]) + 1e-3
    assert np.all(p.backward_usage() <= d + 1e-9)
    p.validate()


def test_validate_rejects_infeasible_overlap():
    p = Partition.independent(2)
    bad = np.array([[0.5, 0.6], [0.6, 0.5]])  # overlap > usage
    with pytest.raises(ValueError, match="forward overlap"):
        p.validate(forward_overlaps=bad)
    with pytest.raises(ValueError, match="lie in"):
        Partition(np.full((2, 2), 1.5), np.ones((2, 2)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solver_meets_requested_fractions_and_overlaps(seed):
    # Targets taken from real masks, so all overlaps are jointly realisable.
    rng = np.random.default_rng(seed)
    channels = 256
    true_fwd = rng.uniform(size=(4, channels)) < rng.uniform(0.2, 0.9, (4, 1))
    true_bwd = true_fwd & (rng.uniform(size=(4, channels)) < 0.7)
    p = Partition.from_masks(true_fwd, true_bwd)
    np.testing.assert_allclose(
        p.overlaps(), true_fwd @ true_fwd.T.astype(float) / channels, atol=2e-3
    )
    fwd, bwd = p.masks(channels, seed=seed)
    assert set(np.unique(fwd)) <= {0.0, 1.0}
    # Usages are met exactly (up to flooring), backward inside forward.
    np.testing.assert_allclose(
        fwd.sum(1), np.floor(p.usage() * channels + 1e-3)
    )
    assert np.all(bwd <= fwd)
    np.testing.assert_allclose(
        bwd.sum(1), np.floor(p.backward_usage() * channels + 1e-3)
    )
    # Pairwise overlaps within 2% of the channels.
    np.testing.assert_allclose(fwd @ fwd.T / channels, p.overlaps(), atol=0.02)
    np.testing.assert_allclose(
        bwd @ bwd.T / channels, p.backward_overlaps(), atol=0.04
    )


def test_solver_is_seeded():
    p = _random_partition(5)
    a, b = p.masks(64, seed=3), p.masks(64, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_presets():
    fwd, bwd = Partition.independent(4).masks(32)
    np.testing.assert_array_equal(fwd @ fwd.T, 8 * np.eye(4))
    np.testing.assert_array_equal(bwd, fwd)
    fwd, bwd = Partition.share_all(3).masks(16)
    assert fwd.min() == 1 and bwd.min() == 1
    fwd, bwd = Partition.share_fwd_only(2).masks(16)
    assert fwd.min() == 1
    np.testing.assert_array_equal(bwd @ bwd.T, 8 * np.eye(2))
    fwd, _ = Partition.share_fixed(2, 0.5).masks(16)
    assert (fwd[0] * fwd[1]).sum() == 8 and fwd.sum() == 24
    assert Partition.get("share_fixed:0.25", 3).num_tasks == 3
    with pytest.raises(ValueError, match="Unknown partition preset"):
        Partition.get("nope", 2)
