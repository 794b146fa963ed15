"""Several partitions along the depth of the trunk (`num_unique`)."""

import json
import math

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
            dict `{"partitions": [...]}`; or a JSON file holding one of
            these.
        num_tasks: Number of tasks every partition must describe.

    Returns:
        List of `Partition`s (length 1 for a single partition).
    """
    if isinstance(identifier, str) and identifier.endswith(".json"):
        with open(identifier) as f:
            return get_partitions(json.load(f), num_tasks)
    if isinstance(identifier, dict) and "partitions" in identifier:
        return get_partitions(list(identifier["partitions"]), num_tasks)
    if isinstance(identifier, (list, tuple)):
        if not identifier:
            raise ValueError("An empty list of partitions.")
        return [Partition.get(p, num_tasks) for p in identifier]
    return [Partition.get(identifier, num_tasks)]
