"""Outer-loop decisions of which tasks share a network (TAG selection)."""

from tfmtl.grouping.affinity_file import load_affinity, save_affinity
from tfmtl.grouping.network_selection import (
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
