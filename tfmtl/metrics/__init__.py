"""Summable evaluation metrics and the Δ_MTL summary (docs/design.md)."""

from tfmtl.metrics.classification_metrics import ClassificationMetrics
from tfmtl.metrics.delta_mtl import delta_mtl
from tfmtl.metrics.depth_metrics import DepthMetrics
from tfmtl.metrics.metric import Metric, accumulate
from tfmtl.metrics.normals_cosine import NormalsCosine
from tfmtl.metrics.normals_metrics import NormalsMetrics
from tfmtl.metrics.regression_metrics import RegressionMetrics
from tfmtl.metrics.segmentation_cross_entropy import SegmentationCrossEntropy
from tfmtl.metrics.segmentation_metrics import SegmentationMetrics

__all__ = [
    "ClassificationMetrics",
    "DepthMetrics",
    "Metric",
    "NormalsCosine",
    "NormalsMetrics",
    "RegressionMetrics",
    "SegmentationCrossEntropy",
    "SegmentationMetrics",
    "accumulate",
    "delta_mtl",
]
