"""Evolution strategies over feature partitions (ARS-style)."""

import numpy as np

from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.partition_search import PartitionSearch
from tfmtl.methods.feature_partitioning.unique_partitions import (
    partitions_config,
)


class PartitionES(PartitionSearch):
    """Antithetic random search with top directions and Nesterov momentum.

    Generation 0 evaluates `init_random` random partitions and starts from
    the best. Each later generation draws `num_deltas` directions
    `delta_k = clip(theta + sigma eps_k) - theta` and evaluates
    `theta +/- delta_k`; rewards are divided by their standard deviation,
    the `num_to_use` directions with the largest `max(r+, r-)` are kept,
    and `g = mean((r+ - r-) delta)` is followed by Nesterov SGD on
    `-g + diag_weight_decay * theta_diag` (L2 pressure on the forward usages,
    i.e. channel use; `weight_reg="l1"` uses `sign(theta_diag)`, None
    none), then clipped to [0, 1].

    Multi-objective mode (the reference's `multiobjective=1`) needs per-task
    scores (`tell(scores, task_scores)`, e.g. each task's accuracy): each
    task's scores are divided by their std over the batch, each task picks
    its own top directions and its ascent direction is restricted to the
    entries of its row and column of both matrices; an entry's step is the
    mean over the tasks it involves.

    With `num_unique` U > 1 the search vector holds U partitions (the
    reference's flattened `[U, 2, N, N]` parameter): directions perturb all
    of them, the penalty weighs every partition's forward usages
    (`meta/optim/es.py`: `lmda_mat.repeat(num_unique, ...)`) and each
    task's entries are its rows and columns in every partition
    (`PartitionManager.get_task_parameter_mask`).

    Args:
        num_tasks: Number of tasks N.
        num_samples: Evaluation budget.
        init_random: Random partitions evaluated first (0: start at
            `initial`).
        num_deltas: Directions per generation (2x evaluations).
        num_to_use: Directions kept.
        delta_size: Perturbation std sigma.
        learning_rate: Step size.
        momentum: Nesterov momentum.
        diag_weight_decay: Weight of the penalty on the forward diagonal.
        weight_reg: "l2" (reference es_dist), "l1" or None.
        multiobjective: Per-task ascent directions (see above).
        initial: Starting vector when `init_random` is 0 (default 0.5).
        seed: Seed.
        num_unique: Partitions along the depth of the trunk (U).

    Reference:
        Newell et al., arXiv:1908.04339; Mania et al., "Simple random search
        provides a competitive approach to reinforcement learning", 2018.
    """

    def __init__(
        self,
        num_tasks,
        num_samples=10000,
        init_random=32,
        num_deltas=8,
        num_to_use=7,
        delta_size=0.04,
        learning_rate=0.25,
        momentum=0.8,
        diag_weight_decay=1e-3,
        initial=None,
        seed=0,
        weight_reg="l2",
        multiobjective=False,
        num_unique=1,
    ):
        super().__init__(num_tasks, num_samples, seed, num_unique)
        if not 1 <= num_to_use <= num_deltas:
            raise ValueError("Need 1 <= num_to_use <= num_deltas.")
        self.init_random = int(init_random)
        self.num_deltas, self.num_to_use = int(num_deltas), int(num_to_use)
        self.delta_size = float(delta_size)
        self.learning_rate, self.momentum = learning_rate, momentum
        self.diag_weight_decay = diag_weight_decay
        if weight_reg not in ("l1", "l2", None):
            raise ValueError(f"weight_reg must be l1, l2 or None: {weight_reg}")
        self.weight_reg, self.multiobjective = weight_reg, bool(multiobjective)
        self.task_masks = np.tile(
            task_parameter_masks(self.num_tasks), (1, self.num_unique)
        )
        self.theta = (
            np.full(self.dimension, 0.5)
            if initial is None
            else np.clip(np.asarray(initial, np.float64), 0, 1)
        )
        if self.theta.shape != (self.dimension,):
            raise ValueError(
                f"initial has shape {self.theta.shape}, the search vector "
                f"{self.dimension} values."
            )
        self.velocity = np.zeros(self.dimension)
        diagonal = np.zeros(Partition.vector_size(self.num_tasks))
        diagonal[Partition.forward_diagonal_indices(num_tasks)] = 1.0
        self.diagonal = np.tile(diagonal, self.num_unique)
        self._deltas = None

    def describe(self, params):
        """The best sample's partition and the current mean `theta` (the
        search's point estimate, what the reference's ES ends with) as
        `mean_params` and `mean_partition`."""
        entry = super().describe(params)
        entry["mean_params"] = self.theta.tolist()
        entry["mean_partition"] = partitions_config(self.partition(self.theta))
        return entry

    def _propose(self):
        rng = self._rng()
        if self.generation == 0 and self.init_random:
            return self.random_candidates(self.init_random, rng)
        eps = rng.standard_normal((self.num_deltas, self.dimension))
        self._deltas = (
            np.clip(self.theta + self.delta_size * eps, 0, 1) - self.theta
        )
        return np.concatenate(
            [self.theta + self._deltas, self.theta - self._deltas]
        )

    def _update(self, candidates, scores, task_scores=None):
        if self._deltas is None:  # the random initial generation
            self.theta = candidates[int(np.argmax(scores))].copy()
            return
        if self.multiobjective:
            if task_scores is None:
                raise ValueError(
                    "Multi-objective ES needs per-task scores; the evaluator "
                    "must return them (a result with `task_scores`)."
                )
            per_task = task_scores / (task_scores.std(0, keepdims=True) + 1e-4)
            ascent = np.zeros(self.dimension)
            for t in range(self.num_tasks):
                ascent += self._ascent(per_task[:, t]) * self.task_masks[t]
            ascent /= np.maximum(self.task_masks.sum(0), 1)
        else:
            ascent = self._ascent(scores / (np.std(scores) + 1e-4))
        grad = -ascent + self._penalty_gradient()
        self.velocity = self.momentum * self.velocity + grad
        step = grad + self.momentum * self.velocity
        self.theta = np.clip(self.theta - self.learning_rate * step, 0, 1)
        self._deltas = None

    def _ascent(self, rewards):
        """Mean of `(r+ - r-) delta` over the top directions."""
        k = self.num_deltas
        plus, minus = rewards[:k], rewards[k:]
        keep = np.argsort(-np.maximum(plus, minus))[: self.num_to_use]
        return ((plus - minus)[keep, None] * self._deltas[keep]).mean(0)

    def _penalty_gradient(self):
        diag = self.diag_weight_decay * self.diagonal
        if self.weight_reg == "l2":
            return diag * self.theta
        if self.weight_reg == "l1":
            return diag * np.sign(self.theta)
        return np.zeros(self.dimension)


def task_parameter_masks(num_tasks):
    """[N, D]: which vector entries involve each task (row or column)."""
    pairs = [(i, j) for i in range(num_tasks) for j in range(i, num_tasks)]
    masks = np.zeros((num_tasks, 2 * len(pairs)))
    for k, (i, j) in enumerate(pairs):
        for t in {i, j}:
            masks[t, k] = masks[t, k + len(pairs)] = 1.0
    return masks
