"""Independent numpy versions of the reference's partition presets.

The reference is google/multi-task-architecture-search; read, not copied.
"""

import numpy as np


def reference_share_fixed(num_tasks, channels, share_amt):
    """`PartitionManager.find_masks` with `param_init == 'share_fixed'`.

    Each task gets its own block of floor(C (1 - share) / N) channels; the
    remaining channels at the end are shared by every task.
    """
    per_task = int(np.floor(channels * (1 - share_amt) / num_tasks))
    shared = channels - per_task * num_tasks
    masks = np.zeros((num_tasks, channels))
    for i in range(num_tasks):
        masks[i, i * per_task : (i + 1) * per_task] = 1
        if shared:
            masks[i, -shared:] = 1
    return masks
