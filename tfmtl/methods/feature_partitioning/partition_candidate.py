"""Writes a search candidate as a partition file for a child process."""

import json
import os

from tfmtl.methods.feature_partitioning.partition import Partition


class PartitionCandidate:
    """`prepare` callable of `tfmtl.search.SubprocessEvaluator` for FP.

    Decodes a candidate vector into a `Partition`, writes it to
    `<directory>/partition.json` and hands the child
    `--partition_file=<that>`.

    Args:
        num_tasks: Number of tasks of the partitions.
        decode: Optional callable mapping a candidate to its `Partition`
            (the searcher's `partition`); default `Partition.from_vector`.
    """

    def __init__(self, num_tasks, decode=None):
        self.num_tasks = int(num_tasks)
        self.decode = decode

    def __call__(self, params, directory):
        path = os.path.join(directory, "partition.json")
        if self.decode is not None:
            partition = self.decode(params)
        else:
            partition = Partition.from_vector(params, self.num_tasks)
        with open(path, "w") as f:
            json.dump(partition.get_config(), f)
        return [f"--partition_file={path}"]
