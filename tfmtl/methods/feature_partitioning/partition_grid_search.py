"""Grid-search baseline over feature partitions."""

import numpy as np

from tfmtl.methods.feature_partitioning.partition_search import PartitionSearch


class PartitionGridSearch(PartitionSearch):
    """Visits `steps` evenly spaced values per dimension, in batches.

    Dimensions not listed in `dims` stay at `fill`. The grid has
    `steps ** len(dims)` points; the budget is the grid size unless
    `num_samples` is smaller.

    Args:
        num_tasks: Number of tasks N.
        steps: Points per dimension on [0, 1].
        dims: Indices (into `Partition.to_vector`) to vary; default all.
        fill: Value of the other dimensions.
        batch_size: Candidates per `ask()`.
        num_samples: Optional cap on evaluations.
    """

    def __init__(
        self,
        num_tasks,
        steps=3,
        dims=None,
        fill=1.0,
        batch_size=16,
        num_samples=None,
    ):
        super().__init__(num_tasks, 1, 0)
        self.dims = (
            np.arange(self.dimension) if dims is None else np.asarray(dims)
        )
        self.steps, self.fill = int(steps), float(fill)
        self.batch_size = int(batch_size)
        size = self.steps ** len(self.dims)
        self.num_samples = (
            size if num_samples is None else min(size, int(num_samples))
        )
        self.values = np.linspace(0.0, 1.0, self.steps)

    def _propose(self):
        start = self.num_evaluations
        stop = min(start + self.batch_size, self.num_samples)
        index = np.unravel_index(
            np.arange(start, stop), (self.steps,) * len(self.dims)
        )
        out = np.full((stop - start, self.dimension), self.fill)
        out[:, self.dims] = self.values[np.stack(index, axis=1)]
        return out
