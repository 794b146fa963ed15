"""A synthetic search objective with a known optimum."""

import numpy as np

from tfmtl.methods.feature_partitioning.partition_es import task_parameter_masks
from tfmtl.methods.feature_partitioning.unique_partitions import vector_size


class DebugReward:
    """The reference's `es_debug` objective: `-||target - theta||`.

    With `per_task`, the result also holds one score per task, the distance
    restricted to that task's entries (its row and column of both
    matrices), for multi-objective ES.

    Args:
        num_tasks: Number of tasks.
        seed: Seed of the hidden target in `[0, 1]^D`.
        per_task: Also return `task_scores`.
        num_unique: Partitions per candidate (the target covers all).
    """

    def __init__(self, num_tasks, seed=0, per_task=False, num_unique=1):
        size = vector_size(num_tasks, num_unique)
        self.target = np.random.default_rng(seed).uniform(size=size)
        self.per_task = per_task
        self.masks = np.tile(task_parameter_masks(num_tasks), (1, num_unique))

    def __call__(self, sample_id, params, attempt=0, worker=0):
        del sample_id, attempt, worker
        error = self.target - np.asarray(params)
        score = -float(np.linalg.norm(error))
        if not self.per_task:
            return score
        return {
            "score": score,
            "task_scores": [
                -float(np.linalg.norm(error * m)) for m in self.masks
            ],
        }
