"""Searching `num_unique` > 1 partitions: the parameter and one ES update.

Reference (google/multi-task-architecture-search), re-derived here in
float64 numpy, not imported:
* `meta/param/partition.py::PartitionManager`: the searched parameter is a
  `[num_unique, 2, N, N]` tensor, partition u being `data[u]` (forward
  matrix `data[u, 0]`, backward `data[u, 1]`); `find_masks(p_idx=u)` reads
  it through `util/calc.py::convert_mat` (diagonals and upper triangles
  only), `random_sample` draws one forward-usage perturbation `mutate`
  for all partitions, and `get_task_parameter_mask` repeats a task's
  rows and columns over the partitions;
* `meta/optim/es.py::MetaOptimizer.run`: antithetic deltas of the
  flattened tensor, scores over their std, the `num_to_use` best
  directions, `-mean((r+ - r-) delta)`, plus the L2 term
  `lmda_mat.repeat(num_unique, 1, 1, 1) * data` on every forward diagonal,
  then `torch.optim.SGD(momentum, nesterov=True)` and a clamp to [0, 1]
  (`util/session_manager.py::setup_optimizer`).
"""

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

N, U = 3, 2
TRIU = np.triu(np.ones((N, N))) != 0


def _to_vector(tensor):
    """[U, 2, N, N] -> our search vector (row-major upper triangles)."""
    return np.concatenate(
        [np.concatenate([m[TRIU] for m in p]) for p in tensor]
    )


def _to_tensor(vector, fill=0.0):
    """Our search vector -> [U, 2, N, N] (lower triangles `fill`)."""
    tensor = np.full((U, 2, N, N), fill)
    half = TRIU.sum()
    for u, block in enumerate(np.split(np.asarray(vector, np.float64), U)):
        tensor[u, 0][TRIU], tensor[u, 1][TRIU] = block[:half], block[half:]
    return tensor


def _reference_convert_mat(mat):
    """`calc.convert_mat` on one [2, N, N] partition, without its 1e-3
    rounding (tfmtl keeps the fractions exact: a `# compat:` note in
    `partition.py`)."""

    def aux(m, d, lo, hi):
        m = np.triu(m * (hi - lo) + lo, 1)
        return m + m.T + np.diag(d)

    d_f = mat[0].diagonal()
    m_f = aux(
        mat[0],
        d_f,
        np.maximum(0, np.add.outer(d_f, d_f) - 1),
        np.minimum.outer(d_f, d_f),
    )
    d_b = mat[1].diagonal() * d_f
    lo = np.maximum(0, np.add.outer(d_b, d_b) - np.add.outer(d_f, d_f) + m_f)
    hi = np.minimum(m_f, np.minimum.outer(d_b, d_b))
    return m_f, aux(mat[1], d_b, lo, hi)


def test_search_vector_maps_to_the_reference_partitions():
    rng = np.random.default_rng(0)
    tensor = rng.uniform(0.05, 1.0, size=(U, 2, N, N))
    searcher = PartitionRandomSearch(N, num_unique=U)
    assert searcher.dimension == U * 2 * TRIU.sum()
    partitions = searcher.partition(_to_vector(tensor))
    assert len(partitions) == U
    for u, partition in enumerate(partitions):
        forward, backward = _reference_convert_mat(tensor[u])
        np.testing.assert_allclose(partition.overlaps(), forward, atol=1e-12)
        np.testing.assert_allclose(
            partition.backward_overlaps(), backward, atol=1e-12
        )
    # The two partitions differ, so the order is checked too.
    assert not np.allclose(partitions[0].overlaps(), partitions[1].overlaps())
    entry = searcher.describe(_to_vector(tensor))
    assert entry["best_partition"] == [p.get_config() for p in partitions]


def test_random_candidates_share_forward_usage_across_partitions():
    searcher = PartitionRandomSearch(N, batch_size=6, seed=2, num_unique=U)
    tensors = [_to_tensor(v) for v in searcher.ask()]
    for t in tensors:
        # One `mutate` for all partitions: equal forward usages ...
        np.testing.assert_array_equal(t[0, 0].diagonal(), t[1, 0].diagonal())
        # ... but overlaps and backward usages drawn for each.
        assert not np.allclose(
            t[0, 0][np.triu(TRIU, 1)], t[1, 0][np.triu(TRIU, 1)]
        )
        assert not np.allclose(t[0, 1].diagonal(), t[1, 1].diagonal())
        assert t.min() >= 0.0 and t[:, :, TRIU].min() >= 0.05
    # U = 1 draws exactly what it drew before num_unique existed.
    single = PartitionRandomSearch(N, batch_size=6, seed=2)
    rng = np.random.default_rng([2, 0])
    expected = [Partition.random(N, rng).to_vector() for _ in range(6)]
    np.testing.assert_array_equal(single.ask(), np.stack(expected))


def _reference_task_masks():
    """`get_task_parameter_mask` for each task: [N, U * 2 * N * N]."""
    masks = []
    for t in range(N):
        v = np.zeros((2, N, N), bool)
        v[:, :, t] = True
        v[:, t, :] = True
        v = (v * TRIU).astype(int)
        masks.append(np.expand_dims(v, 0).repeat(U, 0).flatten())
    return np.array(masks, np.float64)


def _reference_es_step(theta, buf, deltas, scores, task_scores, opt):
    """One `es.py` update in the [U, 2, N, N] layout; returns theta, buf."""
    k = opt["num_deltas"]
    flat_deltas = deltas.reshape(k, -1)

    def weighted(s):
        s = np.stack([s[:k], s[k:]], 1)
        best = np.argsort(-s.max(1))[: opt["num_to_use"]]
        diff = s[best, 0] - s[best, 1]
        return -np.dot(diff, flat_deltas[best]) / diff.size

    if task_scores is None:
        result = weighted(scores / (scores.std() + 1e-4))
    else:
        masks = _reference_task_masks()
        ts = task_scores / (task_scores.std(0, keepdims=True) + 1e-4)
        result = sum(weighted(ts[:, t]) * masks[t] for t in range(N))
        result /= np.maximum(masks.sum(0), 1)
    lmda = np.stack([np.eye(N), np.zeros((N, N))])[None]
    lmda = lmda.repeat(U, 0).reshape(-1) * opt["diag_weight_decay"]
    grad = result + lmda * theta.reshape(-1)  # do_weight_reg == 2
    # torch SGD, nesterov: buf = m buf + g (buf = g at the first step).
    buf = grad.copy() if buf is None else opt["momentum"] * buf + grad
    step = grad + opt["momentum"] * buf
    theta = np.clip(theta.reshape(-1) - opt["learning_rate"] * step, 0, 1)
    return theta.reshape(U, 2, N, N), buf


@pytest.mark.parametrize("multiobjective", [False, True])
def test_es_update_matches_the_reference_for_two_partitions(multiobjective):
    opt = dict(
        num_deltas=4,
        num_to_use=3,
        learning_rate=0.5,
        momentum=0.8,
        diag_weight_decay=0.3,
    )
    rng = np.random.default_rng(5)
    initial = rng.uniform(0.2, 0.8, U * N * (N + 1))
    es = PartitionES(
        N,
        init_random=0,
        delta_size=0.1,
        weight_reg="l2",
        multiobjective=multiobjective,
        initial=initial,
        seed=1,
        num_unique=U,
        **opt,
    )
    theta, buf = _to_tensor(initial), None
    for _ in range(2):  # the second step carries momentum
        batch = es.ask()
        k = opt["num_deltas"]
        np.testing.assert_allclose(
            batch[k:], np.clip(es.theta - (batch[:k] - es.theta), 0, 1)
        )
        deltas = np.stack([_to_tensor(d) for d in batch[:k] - es.theta])
        scores = rng.normal(size=2 * k)
        task_scores = rng.normal(size=(2 * k, N)) if multiobjective else None
        es.tell(scores, task_scores)
        theta, buf = _reference_es_step(
            theta, buf, deltas, scores, task_scores, opt
        )
        np.testing.assert_allclose(es.theta, _to_vector(theta), atol=1e-12)
    # The penalty reached the second partition's forward usages.
    assert not np.allclose(
        theta[1, 0].diagonal(), _to_tensor(initial)[1, 0].diagonal()
    )


def test_grid_search_over_two_partitions():
    grid = PartitionGridSearch(N, steps=3, num_unique=U)
    assert grid.grid.shape == (3, U * N * (N + 1))
    for vector, amount in zip(grid.grid, [0.0, 0.5, 1.0]):
        decoded = grid.partition(vector)
        # As the reference's share_fixed masks, every partition alike.
        assert len(decoded) == U
        for p in decoded:
            assert (
                p.get_config() == Partition.share_fixed(N, amount).get_config()
            )
    half = N * (N + 1)
    vector = PartitionGridSearch(
        N, steps=2, space="vector", dims=[half], num_unique=U
    )
    assert vector.grid.shape == (2, 2 * half)
    second = [vector.partition(v)[1].forward[0, 0] for v in vector.grid]
    assert second == [0.0, 1.0]


def test_bad_num_unique_and_initial_are_clear_errors():
    with pytest.raises(ValueError, match="num_unique"):
        PartitionES(N, num_unique=0)
    with pytest.raises(ValueError, match="initial has shape"):
        PartitionES(N, num_unique=U, initial=np.full(N * (N + 1), 0.5))
    # A U > 1 summary is a list: one Partition cannot stand for it.
    config = Partition.share_all(N).get_config()
    with pytest.raises(ValueError, match="list of partitions"):
        Partition.get({"best_partition": [config, config]}, N)
