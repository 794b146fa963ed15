"""tfmtl.models.weights: method-neutral loading helpers."""

import keras
import numpy as np
import pytest

from tfmtl.models import weights
from tfmtl.models.backbones import ResNet
from tfmtl.sharing import HardSharing


def _conv(filters):
    conv = keras.layers.Conv2D(filters, 3, use_bias=True)
    conv.build((None, 5, 5, 2))
    return conv


def test_copy_kernels_copies_and_checks_shapes():
    a, b = _conv(3), _conv(3)
    a.bias.assign(np.ones(3, "float32"))
    weights.copy_kernels([a], [b], "The source", "fix it")
    np.testing.assert_array_equal(b.kernel, a.kernel)
    np.testing.assert_array_equal(b.bias, a.bias)
    with pytest.raises(ValueError, match="has 1 convolution/dense layers"):
        weights.copy_kernels([a], [], "The source", "fix it")
    with pytest.raises(ValueError, match="needs"):
        weights.copy_kernels([a], [_conv(4)], "The source", "fix it")


def test_backbone_of_finds_the_wrapped_backbone():
    backbone = ResNet(18, stem="small", widths=(4, 4, 8, 8))
    sharing = HardSharing(backbone, tasks=("a",))
    assert weights.backbone_of(sharing) is backbone
    assert weights.backbone_of(backbone) is backbone
    assert weights.backbone_of(sharing, ResNet) is backbone
    assert weights.backbone_of(sharing, keras.layers.Dense) is None


def test_missing_files_and_checkpoints_raise_not_found(tmp_path):
    with pytest.raises(weights.WeightsNotFoundError, match="Trunk not found"):
        weights.check_file(str(tmp_path / "x.keras"), "Trunk")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        weights.resolve_checkpoint(str(tmp_path), "Trunk", "train one with")
    with pytest.raises(FileNotFoundError, match="ckpt-3"):
        weights.resolve_checkpoint(str(tmp_path / "ckpt-3"), "Trunk", "x")
