"""Generic layers shared by the models and the methods."""

from tfmtl.models.layers.fused_batch_normalization import (
    FusedBatchNormalization,
)
from tfmtl.models.layers.task_batch_normalization import (
    TaskBatchNormalization,
)

__all__ = ["FusedBatchNormalization", "TaskBatchNormalization"]
