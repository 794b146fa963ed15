"""Outer-loop searchers over feature partitions (pure numpy, ask / tell).

A searcher proposes batches of candidate vectors in `[0, 1]^D`
(`Partition.to_vector` layout, `D = N (N + 1)`; with `num_unique` U > 1,
U such blocks one after the other, `D = U N (N + 1)`) with `ask()` and receives
their scores (higher is better) with `tell()`. Proposals depend only on the
seed and the scores told so far, so a search log can be replayed to resume an
interrupted search exactly (`tfmtl.search.runner`).

# compat: the reference searches its whole flattened `[U, 2, N, N]`
# parameter, lower triangles included, which `calc.convert_mat` never
# reads; here only the read entries are searched. Perturbations are drawn
# entry by entry, so the read entries move as in the reference.
"""

import numpy as np

from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.unique_partitions import (
    partitions_config,
    partitions_from_vector,
    vector_size,
)


class PartitionSearch:
    """Base class: bookkeeping of the best candidate and the budget.

    Args:
        num_tasks: Number of tasks N.
        num_samples: Budget of evaluations.
        seed: Seed of every random draw.
        num_unique: Partitions along the depth of the trunk (the
            reference's `--num_unique`); each candidate holds all of them.
    """

    def __init__(self, num_tasks, num_samples=1000, seed=0, num_unique=1):
        self.num_tasks = int(num_tasks)
        self.num_unique = int(num_unique)
        if self.num_unique < 1:
            raise ValueError(f"num_unique must be >= 1, got {num_unique}.")
        self.dimension = vector_size(self.num_tasks, self.num_unique)
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.num_evaluations = 0
        self.generation = 0
        self.best_params, self.best_score = None, -np.inf
        self._pending = None

    def _rng(self, *keys):
        return np.random.default_rng([self.seed, self.generation, *keys])

    @property
    def done(self):
        return self.num_evaluations >= self.num_samples

    def ask(self):
        """Returns the next batch of candidates, array [K, D]."""
        if self._pending is None:
            self._pending = np.clip(self._propose(), 0.0, 1.0)
        return self._pending

    def tell(self, scores, task_scores=None):
        """Takes the scores of the last `ask()` batch, in order.

        Args:
            scores: [K] scores (higher is better).
            task_scores: Optional [K, N] per-task scores (e.g. each task's
                accuracy), used by multi-objective ES.
        """
        if self._pending is None:
            raise ValueError("tell() without a pending ask().")
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(self._pending),):
            raise ValueError(
                f"Expected {len(self._pending)} scores, got {scores.shape}."
            )
        i = int(np.argmax(scores))
        if scores[i] > self.best_score:
            self.best_score = float(scores[i])
            self.best_params = self._pending[i].copy()
        if task_scores is not None:
            task_scores = np.asarray(task_scores, dtype=np.float64)
            if task_scores.shape != (len(scores), self.num_tasks):
                expected = (len(scores), self.num_tasks)
                raise ValueError(
                    f"Expected task scores of shape {expected}, got "
                    f"{task_scores.shape}."
                )
        self._update(self._pending, scores, task_scores)
        self.num_evaluations += len(scores)
        self.generation += 1
        self._pending = None

    def describe(self, params):
        """The summary entry of `params` (`SearchRunner`): the partition
        (a list of `num_unique` partitions when that is > 1)."""
        if params is None:
            return {"best_partition": None}
        return {"best_partition": partitions_config(self.partition(params))}

    def partition(self, params):
        """The `Partition` a candidate vector stands for; with
        `num_unique` > 1 the list of its partitions, shallowest first."""
        if self.num_unique == 1:
            return Partition.from_vector(params, self.num_tasks)
        return partitions_from_vector(params, self.num_tasks, self.num_unique)

    def progress_scalars(self):
        """Per-generation scalars for `SearchRunner`: the forward usages
        d_i of the current point (the reference's `param_use`), for
        searchers with a current point `theta` (ES). With `num_unique` >
        1 these are the first partition's, as the reference's
        (`meta/optim/es.py`: `data[0][0].diag()`)."""
        theta = getattr(self, "theta", None)
        if theta is None:
            return {}
        use = theta[Partition.forward_diagonal_indices(self.num_tasks)]
        values = {"search/param_use/mean": float(np.mean(use))}
        for i, value in enumerate(use):
            values[f"search/param_use/task_{i}"] = float(value)
        return values

    def _propose(self):
        raise NotImplementedError

    def _update(self, candidates, scores, task_scores=None):
        del candidates, scores, task_scores

    def random_candidates(self, count, rng):
        """`count` candidates from the reference's "restrict" sampler.

        With `num_unique` > 1, as `PartitionManager.random_sample` (one
        forward-usage draw `mutate` for all partitions), the partitions of
        a candidate share their forward usages (the first one's); overlaps
        and backward usages are drawn for each.
        """
        return np.stack([self._random_vector(rng) for _ in range(count)])

    def _random_vector(self, rng):
        first = Partition.random(self.num_tasks, rng)
        if self.num_unique == 1:
            return first.to_vector()
        usage = Partition.forward_diagonal_indices(self.num_tasks)
        parts = [first.to_vector()]
        for _ in range(self.num_unique - 1):
            part = Partition.random(self.num_tasks, rng).to_vector()
            part[usage] = parts[0][usage]
            parts.append(part)
        return np.concatenate(parts)
