"""AdaShare (Sun et al., NeurIPS 2020): learning what to share per task.

Pieces: the sharing module (`AdaShare`, Gumbel policies in `gumbel`,
regularisers), its schedule and actions (`AdaShareSchedule`,
`AdaShareCurriculum`, `AdaShareEvaluate`, `SavePolicy`, `SaveBestPolicy`,
`AdaShareReport`), the reference's optimizers (`AdamL2`, `SGDL2`), and
the phases after policy learning (`main`: sampling in `sampling`, the
retrains through `tfmtl.search` in `retrain_samples` / `retrain_main`, the
best-of-N report in `best_of`).
"""

from tfmtl.methods.adashare.ada_share import AdaShare, load_policy
from tfmtl.methods.adashare.ada_share_curriculum import (
    AdaShareCurriculum,
    curriculum_state,
)
from tfmtl.methods.adashare.ada_share_evaluate import AdaShareEvaluate
from tfmtl.methods.adashare.ada_share_report import AdaShareReport
from tfmtl.methods.adashare.ada_share_schedule import (
    AdaShareSchedule,
    expand_groups,
    expand_optimizers,
)
from tfmtl.methods.adashare.adam_l2 import AdamL2
from tfmtl.methods.adashare.gumbel import (
    gumbel_softmax,
    hard_sample,
    sample_policy,
)
from tfmtl.methods.adashare.regularizers import sharing_loss, sparsity_loss
from tfmtl.methods.adashare.save_best_policy import SaveBestPolicy
from tfmtl.methods.adashare.save_policy import SavePolicy
from tfmtl.methods.adashare.sgd_l2 import SGDL2

__all__ = [
    "AdaShare",
    "AdaShareCurriculum",
    "AdaShareEvaluate",
    "AdaShareReport",
    "AdaShareSchedule",
    "AdamL2",
    "SGDL2",
    "SaveBestPolicy",
    "SavePolicy",
    "curriculum_state",
    "expand_groups",
    "expand_optimizers",
    "gumbel_softmax",
    "hard_sample",
    "load_policy",
    "sample_policy",
    "sharing_loss",
    "sparsity_loss",
]
