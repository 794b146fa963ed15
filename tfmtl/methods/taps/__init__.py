"""TAPS: task-adaptive parameter sharing (Wallingford et al., CVPR 2022).

Importing this package registers `tfmtl>TAPSConv2D`, `tfmtl>TAPSDense`,
`tfmtl>TAPSBatchNormalization` and `tfmtl>TAPS` with Keras, so backbones can
name them in `conv=` / `norm=` and saved TAPS models load. The report
across runs (heat map of tuned layers, accuracy table) is `report.py`
(`python -m tfmtl.methods.taps.main --mode=report`).
"""

from tfmtl.methods.taps.base_loading import BaseNotFoundError, load_base
from tfmtl.methods.taps.epochs import epoch_steps, split_sizes, steps_per_epoch
from tfmtl.methods.taps.export import (
    export_compact,
    export_merged,
    layer_map_image,
    load_compact,
    merged_model,
    write_png,
)
from tfmtl.methods.taps.joint import (
    own_data_cross_entropy,
    own_data_tasks,
    round_robin,
    task_streams,
)
from tfmtl.methods.taps.own_data_loss import OwnDataLoss
from tfmtl.methods.taps.taps import TAPS
from tfmtl.methods.taps.taps_backbone import taps_backbone
from tfmtl.methods.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.methods.taps.taps_conv2d import TAPSConv2D
from tfmtl.methods.taps.taps_dense import TAPSDense
from tfmtl.methods.taps.taps_summaries import TAPSSummaries
from tfmtl.methods.taps.taps_warmup import TAPSWarmup

__all__ = [
    "TAPS",
    "BaseNotFoundError",
    "OwnDataLoss",
    "TAPSBatchNormalization",
    "TAPSConv2D",
    "TAPSDense",
    "TAPSSummaries",
    "TAPSWarmup",
    "epoch_steps",
    "export_compact",
    "export_merged",
    "layer_map_image",
    "load_base",
    "load_compact",
    "merged_model",
    "own_data_cross_entropy",
    "own_data_tasks",
    "round_robin",
    "split_sizes",
    "steps_per_epoch",
    "task_streams",
    "write_png",
    "taps_backbone",
]
