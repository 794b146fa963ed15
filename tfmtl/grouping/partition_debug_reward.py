"""A synthetic search objective with a known optimum."""

import numpy as np

from tfmtl.sharing.feature_partitioning.partition import Partition


class DebugReward:
    """The reference's `es_debug` objective: `-||target - theta||`.

    Args:
        num_tasks: Number of tasks.
        seed: Seed of the hidden target in `[0, 1]^D`.
    """

    def __init__(self, num_tasks, seed=0):
        size = Partition.vector_size(num_tasks)
        self.target = np.random.default_rng(seed).uniform(size=size)

    def __call__(self, sample_id, params, attempt=0, worker=0):
        del sample_id, attempt, worker
        return -float(np.linalg.norm(self.target - np.asarray(params)))
