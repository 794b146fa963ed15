"""Tests for tfmtl.models.backbones.torchvision_resnet.

torchvision's own networks are the reference: `scripts/make_torch_fixtures.py`
filled torchvision `resnet18/34/50/101(weights=None)` (torchvision
`torchvision/models/resnet.py`, `ResNet.forward`, eval mode) with weights
drawn by its numpy-only `fill_state_dict` and stored their logits on
`input_images()`. Here the same weights are drawn again, converted, and our
logits must equal torch's.
"""

import json

import keras
import numpy as np
import pytest

from tests.models.torch_fixtures import FIXTURES, run_script, script
from tfmtl.models.backbones import ResNet
from tfmtl.models.backbones.torchvision_resnet import (
    load_torchvision_resnet,
    torchvision_layers,
    torchvision_resnet,
)


def _state_dict(arch, directory=FIXTURES):
    with open(directory / f"{arch}.json") as f:
        spec = json.load(f)
    return script().fill_state_dict(spec["keys"], spec["seed"])


def _max_logit_difference(arch, directory=FIXTURES):
    model = torchvision_resnet(arch, _state_dict(arch, directory))
    images = script().input_images().transpose(0, 2, 3, 1)  # NCHW -> NHWC
    ours = np.asarray(model(images, training=False))
    with np.load(directory / f"{arch}_logits.npz") as data:
        theirs = data["logits"]
    assert ours.shape == theirs.shape == (2, 1000)
    return float(np.abs(ours - theirs).max())


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_logits_equal_torchvision(arch):
    assert _max_logit_difference(arch) <= 1e-4


@pytest.mark.large
def test_resnet101_logits_equal_torchvision():
    assert _max_logit_difference("resnet101") <= 1e-4


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "resnet101"])
def test_name_map_covers_every_key_once(arch):
    depth = int(arch.removeprefix("resnet"))
    backbone = ResNet(depth, output_stride=32)
    backbone.build((None, 64, 64, 3))
    names = [name for name, _ in torchvision_layers(backbone)]
    with open(FIXTURES / f"{arch}.json") as f:
        modules = {k.rsplit(".", 1)[0] for k, _, _ in json.load(f)["keys"]}
    assert len(names) == len(set(names))
    assert set(names) == modules - {"fc"}


def _built(depth=18):
    backbone = ResNet(depth, output_stride=32)
    backbone.build((None, 32, 32, 3))
    return backbone


def test_missing_mis_shaped_and_unused_keys_are_named():
    state = _state_dict("resnet18")
    backbone = _built()
    broken = dict(state)
    del broken["layer2.0.downsample.1.running_var"]
    with pytest.raises(
        ValueError, match=r"no 'layer2\.0\.downsample\.1\.running_var'"
    ):
        load_torchvision_resnet(backbone, broken)
    broken = dict(
        state, **{"layer3.1.conv2.weight": np.zeros((256, 256, 1, 1))}
    )
    with pytest.raises(
        ValueError, match=r"'layer3\.1\.conv2\.weight' has shape"
    ):
        load_torchvision_resnet(backbone, broken)
    broken = dict(state, **{"extra.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'extra\.weight'"):
        load_torchvision_resnet(backbone, broken)
    # ResNet-50 weights into a ResNet-18: the first mismatch is named.
    with pytest.raises(
        ValueError, match=r"'layer1\.0\.conv1\.weight' has shape"
    ):
        load_torchvision_resnet(backbone, _state_dict("resnet50"))


def test_values_land_in_the_right_variables():
    state = _state_dict("resnet18")
    backbone = _built()
    load_torchvision_resnet(backbone, state)
    block = backbone.blocks[2]  # layer2.0, strided, with a projection
    proj_conv, proj_bn = block.shortcut_layers[-2:]
    np.testing.assert_array_equal(
        np.asarray(proj_conv.kernel)[0, 0],
        state["layer2.0.downsample.0.weight"][:, :, 0, 0].T,
    )
    np.testing.assert_array_equal(
        np.asarray(proj_bn.moving_variance),
        state["layer2.0.downsample.1.running_var"],
    )


def test_stride_in_1x1_moves_the_stride():
    v1 = ResNet(50, stride_in_1x1=True)
    v15 = ResNet(50)
    for net in (v1, v15):
        net.build((None, 32, 32, 3))

    def convs(block):
        layers = block.residual_layers
        return [x for x in layers if isinstance(x, keras.layers.Conv2D)]

    assert [c.strides for c in convs(v1.blocks[3])] == [(2, 2), (1, 1), (1, 1)]
    assert [c.strides for c in convs(v15.blocks[3])] == [(1, 1), (2, 2), (1, 1)]
    images = np.zeros((1, 32, 32, 3), np.float32)
    assert v1(images).shape == (1, 1, 1, 2048)
    config = ResNet.from_config(v1.get_config())
    assert config.stride_in_1x1 and config.blocks[3].stride_in_1x1
    with pytest.raises(ValueError, match="bottleneck"):
        ResNet(18, stride_in_1x1=True)


@pytest.mark.interop
@pytest.mark.parametrize(
    "arch", ["resnet18", "resnet34", "resnet50", "resnet101"]
)
def test_interop_torchvision_checkpoints(arch, tmp_path):
    """torch writes the .pth now; it is read, converted and compared."""
    from tfmtl.models.checkpoint_files import read_checkpoint

    run_script(tmp_path, "--no_tiny", "--archs", arch, "--checkpoints")
    model = torchvision_resnet(arch, read_checkpoint(tmp_path / f"{arch}.pth"))
    images = script().input_images().transpose(0, 2, 3, 1)
    ours = np.asarray(model(images, training=False))
    with np.load(tmp_path / f"{arch}_logits.npz") as data:
        difference = float(np.abs(ours - data["logits"]).max())
    print(f"{arch}: max abs logit difference {difference:.2e}")
    assert difference <= 1e-4
