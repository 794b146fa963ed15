"""Random-search baseline over feature partitions."""

from tfmtl.methods.feature_partitioning.partition_search import PartitionSearch


class PartitionRandomSearch(PartitionSearch):
    """Evaluates random partitions ("restrict" sampler) in batches.

    Args:
        num_tasks: Number of tasks N.
        num_samples: Evaluation budget.
        batch_size: Candidates per `ask()`.
        seed: Seed.
        num_unique: Partitions along the depth of the trunk (each candidate
            holds all of them; see `PartitionSearch.random_candidates`).
    """

    def __init__(
        self, num_tasks, num_samples=1000, batch_size=16, seed=0, num_unique=1
    ):
        super().__init__(num_tasks, num_samples, seed, num_unique)
        self.batch_size = int(batch_size)

    def _propose(self):
        count = min(self.batch_size, self.num_samples - self.num_evaluations)
        return self.random_candidates(max(count, 1), self._rng())
