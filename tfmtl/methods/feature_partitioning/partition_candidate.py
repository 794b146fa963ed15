"""Writes a search candidate as a partition file for a child process."""

import json
import os

from tfmtl.methods.feature_partitioning.unique_partitions import (
    partitions_config,
    partitions_from_vector,
)


class PartitionCandidate:
    """`prepare` callable of `tfmtl.search.SubprocessEvaluator` for FP.

    Decodes a candidate vector into a `Partition`, writes it to
    `<directory>/partition.json` and hands the child
    `--partition_file=<that>`. With `num_unique` > 1 the file holds
    `{"partitions": [...]}`, the child's `FeaturePartitioning` partitions.

    Args:
        num_tasks: Number of tasks of the partitions.
        decode: Optional callable mapping a candidate to its `Partition`
            or list of partitions (the searcher's `partition`); default
            `unique_partitions.partitions_from_vector`.
        num_unique: Partitions per candidate (when `decode` is None).
    """

    def __init__(self, num_tasks, decode=None, num_unique=1):
        self.num_tasks = int(num_tasks)
        self.decode = decode
        self.num_unique = int(num_unique)

    def __call__(self, params, directory):
        path = os.path.join(directory, "partition.json")
        if self.decode is not None:
            partition = self.decode(params)
        else:
            partition = partitions_from_vector(
                params, self.num_tasks, self.num_unique
            )
        config = partitions_config(partition)
        if isinstance(config, list):
            config = {"partitions": config}
        with open(path, "w") as f:
            json.dump(config, f)
        return [f"--partition_file={path}"]
