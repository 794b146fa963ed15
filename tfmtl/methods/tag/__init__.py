"""TAG: task affinity grouping (Fifty et al., "Efficiently Identifying
Task Groupings for Multi-Task Learning", NeurIPS 2021, arXiv:2109.04617).

* `AffinityRecorder` (`affinity_recorder.py`): the lookahead inter-task
  affinity, recorded during joint training as an action.
* `affinity_file`: the affinity matrix on disk (JSON, atomic writes).
* `network_selection`: TAG / CS / HOA network selection, exact by branch
  and bound, and random groupings (`select_groups`, `score_groups`).
* `TAGResNet` (`tag_resnet.py`): the tiny CelebA trunk of the paper.
* Binaries: `select_groups.py` (choose groups from an affinity file) and
  `groups.py` (train the chosen groups, HOA's pairs, and report).

The package imports no TensorFlow (the selection binary starts fast);
import `affinity_recorder` and `tag_resnet` by module.
"""

from tfmtl.methods.tag.affinity_file import load_affinity, save_affinity
from tfmtl.methods.tag.network_selection import (
    Selection,
    brute_force_select,
    random_groups,
    score_groups,
    select_groups,
)

__all__ = [
    "Selection",
    "brute_force_select",
    "load_affinity",
    "random_groups",
    "save_affinity",
    "score_groups",
    "select_groups",
]
