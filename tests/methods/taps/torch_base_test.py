"""TAPS from a torchvision base (tfmtl.methods.taps.torch_base).

The reference is torchvision itself: `scripts/make_torch_fixtures.py` stored
the logits of torchvision `resnet18` (torchvision/models/resnet.py,
`ResNet.forward`, eval mode) with weights from its numpy `fill_state_dict`.
A TAPS model whose base is that state dict (deltas still zero, fc copied
into the head) must give torch's logits for every task.
"""

import json

import numpy as np
import pytest

from tests.models.torch_fixtures import FIXTURES, script
from tfmtl.methods.taps import TAPS
from tfmtl.models import checkpoint_files
from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import ClassifierHead
from tfmtl.models.multitask_model import MultiTaskModel


def _state_dict(arch="resnet18"):
    with open(FIXTURES / f"{arch}.json") as f:
        spec = json.load(f)
    return script().fill_state_dict(spec["keys"], spec["seed"])


def _taps_model(base, tasks=("a", "b"), train_base=False):
    sharing = TAPS(
        ResNet(18, output_stride=32), tasks, base=base, train_base=train_base
    )
    model = MultiTaskModel(sharing, {t: ClassifierHead(1000) for t in tasks})
    images = script().input_images().transpose(0, 2, 3, 1)
    model(images[:1], training=False)
    return model, images


@pytest.mark.parametrize(
    "name, wrap",
    [
        ("base.pth", "state_dict.module."),
        ("base.safetensors", ""),
        ("base.npz", ""),
    ],
)
def test_taps_on_torchvision_base_gives_torch_logits(tmp_path, name, wrap):
    state = _state_dict()
    arrays = {wrap + k: v for k, v in state.items()}
    if wrap:  # a training state: optimizer entries beside the weights
        arrays["optimizer.state.0.momentum_buffer"] = np.zeros(3, "f4")
    path = checkpoint_files.write_checkpoint(tmp_path / name, arrays)
    model, images = _taps_model(path)
    with np.load(FIXTURES / "resnet18_logits.npz") as data:
        expected = data["logits"]
    for task in ("a", "b"):
        head = model.heads[task].logits
        head.kernel.assign(state["fc.weight"].T)
        head.bias.assign(state["fc.bias"])
        logits = np.asarray(model(images, training=False)[task])
        assert np.abs(logits - expected).max() <= 1e-4, task
    # The base is frozen in sequential TAPS and trained in joint TAPS.
    conv = model.sharing.gated_layers()[0]
    assert not conv.base_kernel.trainable


def test_wrong_base_is_named_in_one_line(tmp_path):
    state = _state_dict("resnet50")
    path = checkpoint_files.write_checkpoint(tmp_path / "r50.pth", state)
    with pytest.raises(ValueError, match=r"TAPS base .*r50\.pth: .*'layer1\.0"):
        _taps_model(str(path))
    with pytest.raises(FileNotFoundError, match="TAPS base not found"):
        _taps_model(str(tmp_path / "absent.pth"))
