"""Backbones: Keras layers exposing `stem`, `blocks` and `stage_ends`."""

from tfmtl.models.backbones.basic_block import BasicBlock
from tfmtl.models.backbones.bottleneck_block import BottleneckBlock
from tfmtl.models.backbones.resnet import ResNet
from tfmtl.models.backbones.vgg16 import VGG16
from tfmtl.models.backbones.vgg16_weights import (
    load_vgg16_weights,
    save_vgg16_weights,
)

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "ResNet",
    "VGG16",
    "load_vgg16_weights",
    "save_vgg16_weights",
]
