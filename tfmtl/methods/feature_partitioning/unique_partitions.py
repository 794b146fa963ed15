"""Several partitions along the depth of the trunk (`num_unique`)."""

import json
import math

import numpy as np

from tfmtl.methods.feature_partitioning.partition import Partition


def unique_groups(num_layers, num_unique):
    """Which of `num_unique` partitions each of `num_layers` layers uses.

    As the reference's `models/masked_resnet.py` (`Net.__init__`): the
    layers, in order, are cut into contiguous runs of
    `ceil(num_layers / num_unique)`, so layer l uses partition
    `l // ceil(num_layers / num_unique)`. Every convolution of the trunk
    counts (stem, then both convolutions of each block), masked or not; with
    the last stage alone masked, the first partitions may therefore be
    unused, and for some counts the last ones too, as in the reference.

    Args:
        num_layers: Number of convolutions of the trunk.
        num_unique: Number of partitions (>= 1).

    Returns:
        List of `num_layers` partition indices.
    """
    if int(num_unique) < 1 or int(num_layers) < 1:
        raise ValueError(
            f"num_unique ({num_unique}) and num_layers ({num_layers}) must "
            "be positive."
        )
    repeat_rate = math.ceil(num_layers / num_unique)
    return [layer // repeat_rate for layer in range(num_layers)]


def get_partitions(identifier, num_tasks):
    """Resolves one partition or a list of `num_unique` partitions.

    Args:
        identifier: Anything `Partition.get` takes (one partition); a list
            or tuple of those (one per unique group, shallowest first); a
            dict `{"partitions": [...]}`; a search summary whose
            `best_partition` is such a list (`best.json` of a search with
            `num_unique` > 1); or a JSON file holding one of these.
        num_tasks: Number of tasks every partition must describe.

    Returns:
        List of `Partition`s (length 1 for a single partition).
    """
    if isinstance(identifier, str) and identifier.endswith(".json"):
        with open(identifier) as f:
            return get_partitions(json.load(f), num_tasks)
    if isinstance(identifier, dict) and "partitions" in identifier:
        return get_partitions(list(identifier["partitions"]), num_tasks)
    if isinstance(identifier, dict) and isinstance(
        identifier.get("best_partition"), list
    ):
        # A search summary (`best.json`) of a `num_unique` > 1 search.
        return get_partitions(identifier["best_partition"], num_tasks)
    if isinstance(identifier, (list, tuple)):
        if not identifier:
            raise ValueError("An empty list of partitions.")
        return [Partition.get(p, num_tasks) for p in identifier]
    return [Partition.get(identifier, num_tasks)]


def vector_size(num_tasks, num_unique=1):
    """Length of a search vector: `num_unique * N (N + 1)`."""
    return int(num_unique) * Partition.vector_size(num_tasks)


def partitions_from_vector(vector, num_tasks, num_unique=1):
    """The `num_unique` partitions of a search vector, shallowest first.

    The vector is `num_unique` `Partition.to_vector` blocks one after the
    other, the layout of the reference's flattened `[num_unique, 2, N, N]`
    parameter (`meta/param/partition.py::PartitionManager`) restricted to
    the diagonals and upper triangles it reads.

    Args:
        vector: Array of `vector_size(num_tasks, num_unique)` values.
        num_tasks: Number of tasks N.
        num_unique: Number of partitions U.

    Returns:
        List of U `Partition`s.
    """
    vector = np.asarray(vector, dtype=np.float64)
    size = vector_size(num_tasks, num_unique)
    if int(num_unique) < 1 or vector.shape != (size,):
        raise ValueError(
            f"Expected {size} values for {num_unique} partitions of "
            f"{num_tasks} tasks, got shape {vector.shape}."
        )
    return [
        Partition.from_vector(part, num_tasks)
        for part in np.split(vector, int(num_unique))
    ]


def partitions_config(partitions):
    """JSON form: one partition's config, or a list for several."""
    if isinstance(partitions, Partition):
        return partitions.get_config()
    if len(partitions) == 1:
        return partitions[0].get_config()
    return [p.get_config() for p in partitions]
