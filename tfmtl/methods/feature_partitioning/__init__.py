"""Feature partitioning (Newell et al., arXiv:1908.04339).

* `Partition`: forward / backward N x N partition matrices, their feasible
  overlap mapping, presets, and the seeded mask solver.
* `MaskedConv2D`: forward channel mask on the output, backward mask on the
  kernel gradient (in the forward pass, via `stop_gradient`).
* `TaskBatchNormalization`, `PartitionedResNet`: per-task norms and the
  ResNet-26 of the paper, whose methods take the task index explicitly.
* `FeaturePartitioning`: the sharing module; runs the trunk once per
  requested task, groups variables per task ("weights/<task>"); can start
  from a trained trunk (`pretrained.load_trunk`: a `.keras` export or a
  `tfmtl.train` checkpoint) and freeze all but the last stage; several
  partitions along the depth (`num_unique`, `unique_partitions.py`).
* `AccuracySampledTask` + `UpdateTaskSampling`: one task per step, sampled
  by `(1 - acc + b)^(1/T)` of the running training accuracy (or the last
  evaluation's); `per_task_optimizers`: one optimizer per task;
  `GlobalStepDecay` + `BindGlobalStep`: their learning rates dropped at a
  global step (not each optimizer's own step count).
* `distillation.Distillation`: scores a partition for the outer search
  (`partition_es.py`, `partition_random_search.py`,
  `partition_grid_search.py`, run by `tfmtl.search.SearchRunner`;
  `python -m tfmtl.methods.feature_partitioning.main`).
* `decathlon_score`: the Visual Decathlon score of per-task accuracies.
"""

from tfmtl.methods.feature_partitioning.accuracy_sampled_task import (
    AccuracySampledTask,
)
from tfmtl.methods.feature_partitioning.bind_global_step import (
    BindGlobalStep,
)
from tfmtl.methods.feature_partitioning.decathlon_score import (
    decathlon_score,
)
from tfmtl.methods.feature_partitioning.feature_partitioning import (
    FeaturePartitioning,
)
from tfmtl.methods.feature_partitioning.global_step_decay import (
    GlobalStepDecay,
)
from tfmtl.methods.feature_partitioning.masked_conv2d import MaskedConv2D
from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.partitioned_resnet import (
    PartitionedResNet,
)
from tfmtl.methods.feature_partitioning.per_task_optimizers import (
    per_task_optimizers,
)
from tfmtl.methods.feature_partitioning.update_task_sampling import (
    UpdateTaskSampling,
)
from tfmtl.models.layers import TaskBatchNormalization

__all__ = [
    "AccuracySampledTask",
    "BindGlobalStep",
    "FeaturePartitioning",
    "GlobalStepDecay",
    "MaskedConv2D",
    "Partition",
    "PartitionedResNet",
    "TaskBatchNormalization",
    "UpdateTaskSampling",
    "decathlon_score",
    "per_task_optimizers",
]
