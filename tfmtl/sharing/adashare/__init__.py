"""AdaShare (Sun et al., NeurIPS 2020): learning what to share per task."""

from tfmtl.sharing.adashare.ada_share import AdaShare, load_policy
from tfmtl.sharing.adashare.ada_share_curriculum import (
    AdaShareCurriculum,
    curriculum_state,
)
from tfmtl.sharing.adashare.ada_share_report import AdaShareReport
from tfmtl.sharing.adashare.ada_share_schedule import AdaShareSchedule
from tfmtl.sharing.adashare.gumbel import (
    gumbel_softmax,
    hard_sample,
    sample_policy,
)
from tfmtl.sharing.adashare.regularizers import sharing_loss, sparsity_loss
from tfmtl.sharing.adashare.save_policy import SavePolicy

__all__ = [
    "AdaShare",
    "AdaShareCurriculum",
    "AdaShareReport",
    "AdaShareSchedule",
    "SavePolicy",
    "curriculum_state",
    "gumbel_softmax",
    "hard_sample",
    "load_policy",
    "sample_policy",
    "sharing_loss",
    "sparsity_loss",
]
