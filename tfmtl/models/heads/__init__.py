"""Task heads: Keras layers with a `dense` attribute (True for map outputs)."""

from tfmtl.models.heads.aspp_head import ASPPHead
from tfmtl.models.heads.classifier_head import ClassifierHead
from tfmtl.models.heads.dense_head import DenseHead

__all__ = ["ASPPHead", "ClassifierHead", "DenseHead"]
