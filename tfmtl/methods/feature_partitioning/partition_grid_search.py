"""Grid-search baseline over feature partitions."""

import numpy as np

from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.partition_search import PartitionSearch

SPACES = ("share_fixed", "vector")


class PartitionGridSearch(PartitionSearch):
    """Visits a low-dimensional grid of partitions, in batches.

    `space="share_fixed"` (default) is the reference's fixed-sharing
    baseline (`config/exps/fixed_sharing_baselines.py`: `--share_amt`
    linear on [0, 1], 5 steps): `steps` evenly spaced share amounts
    `a` in `[low, high]`, each candidate the `share_fixed:<a>` partition
    (a block of the channels shared by all tasks, the rest split evenly;
    `a = 0` is "independent", `a = 1` "share_all"), for any number of
    tasks. Candidates are `Partition.to_vector` vectors, and `partition`
    decodes them back into the exact `share_fixed` masks.

    `space="vector"` varies the listed `dims` of the partition vector over
    `steps` values on [0, 1] each (the others stay at `fill`): the full
    grid of `steps ** len(dims)` points, which must fit the budget.

    With `num_unique` U > 1, a `share_fixed` candidate gives every
    partition the same share amount, as the reference, whose `share_fixed`
    masks ignore the partition index (`PartitionManager.find_masks`); the
    `vector` dims index the U concatenated partition vectors.

    # compat: candidates are scored like the ES ones (distillation
    # children); the reference trains each point fully, which here is one
    # `partitioned.gin` run per point with PARTITION = 'share_fixed:<a>'.
    # Its curriculum grid (temperature x bias of the task sampler) is no
    # partition grid; run it with `partitioned.gin` and SAMPLING_TEMPERATURE
    # / SAMPLING_BIAS.

    Args:
        num_tasks: Number of tasks N.
        steps: Grid points per dimension.
        space: "share_fixed" or "vector".
        low: Smallest share amount (`share_fixed`).
        high: Largest share amount (`share_fixed`).
        dims: Indices into `Partition.to_vector` to vary (`vector`).
        fill: Value of the other dimensions (`vector`).
        batch_size: Candidates per `ask()`.
        num_samples: Optional budget; must cover the grid.
        max_points: Largest grid allowed.
        num_unique: Partitions along the depth of the trunk (U).
    """

    def __init__(
        self,
        num_tasks,
        steps=5,
        space="share_fixed",
        low=0.0,
        high=1.0,
        dims=None,
        fill=1.0,
        batch_size=16,
        num_samples=None,
        max_points=10000,
        num_unique=1,
    ):
        super().__init__(num_tasks, 1, 0, num_unique)
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}: {space!r}")
        self.space, self.steps = space, int(steps)
        self.batch_size, self.fill = int(batch_size), float(fill)
        values = np.linspace(0.0, 1.0, self.steps)
        if space == "share_fixed":
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"Need 0 <= low <= high <= 1: {low}, {high}")
            self.amounts = np.linspace(low, high, self.steps)
            self.grid = np.stack(
                [
                    np.tile(
                        Partition.share_fixed(self.num_tasks, a).to_vector(),
                        self.num_unique,
                    )
                    for a in self.amounts
                ]
            )
        else:
            if dims is None:
                raise ValueError(
                    "space='vector' needs the dims to vary: the full vector "
                    f"of {self.dimension} values has no useful grid."
                )
            self.dims = np.asarray(dims, dtype=int)
            size = self.steps ** len(self.dims)
            if size > max_points:
                raise ValueError(
                    f"Grid of {self.steps}^{len(self.dims)} = {size} points "
                    f"exceeds max_points={max_points}."
                )
            points = np.stack(
                np.meshgrid(*[values] * len(self.dims), indexing="ij"), -1
            ).reshape(size, len(self.dims))
            self.grid = np.full((size, self.dimension), self.fill)
            self.grid[:, self.dims] = points
        if num_samples is not None and int(num_samples) < len(self.grid):
            raise ValueError(
                f"num_samples={num_samples} is smaller than the grid of "
                f"{len(self.grid)} points: a truncated grid would only vary "
                "its last dimensions. Use fewer steps or dims."
            )
        self.num_samples = len(self.grid)

    def partition(self, params):
        """The partition of a candidate (exact `share_fixed` masks)."""
        if self.space != "share_fixed":
            return super().partition(params)
        diagonal = Partition.forward_diagonal_indices(self.num_tasks)
        n = self.num_tasks
        amount = (float(np.asarray(params)[diagonal[0]]) - 1.0 / n) / (
            1.0 - 1.0 / n
        )
        nearest = float(self.amounts[np.argmin(np.abs(self.amounts - amount))])
        if self.num_unique == 1:
            return Partition.share_fixed(n, nearest)
        return [Partition.share_fixed(n, nearest)] * self.num_unique

    def _propose(self):
        start = self.num_evaluations
        return self.grid[start : min(start + self.batch_size, len(self.grid))]
