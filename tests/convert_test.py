"""tfmtl.convert: a torchvision checkpoint becomes a `.keras` model whose
logits equal torchvision's (fixture logits of torchvision `resnet18`,
torchvision/models/resnet.py `ResNet.forward`, from
scripts/make_torch_fixtures.py)."""

import json

import keras
import numpy as np
import pytest

from tests.models.torch_fixtures import FIXTURES, script
from tfmtl.convert import convert_torchvision
from tfmtl.models import checkpoint_files


def _state_dict():
    with open(FIXTURES / "resnet18.json") as f:
        spec = json.load(f)
    return script().fill_state_dict(spec["keys"], spec["seed"])


def test_written_keras_model_gives_torchvision_logits(tmp_path):
    state = {"module." + k: v for k, v in _state_dict().items()}
    source = checkpoint_files.write_checkpoint(tmp_path / "r18.pth", state)
    convert_torchvision("resnet18", source, str(tmp_path / "r18.keras"))
    import tfmtl.models.backbones  # noqa: F401  (registers the layers)
    import tfmtl.models.heads  # noqa: F401

    model = keras.saving.load_model(tmp_path / "r18.keras", compile=False)
    images = script().input_images().transpose(0, 2, 3, 1)
    logits = np.asarray(model(images, training=False))
    with np.load(FIXTURES / "resnet18_logits.npz") as data:
        assert np.abs(logits - data["logits"]).max() <= 1e-4


def test_checkpoint_without_classifier_is_refused(tmp_path):
    state = {k: v for k, v in _state_dict().items() if not k.startswith("fc")}
    source = checkpoint_files.write_checkpoint(tmp_path / "trunk.npz", state)
    with pytest.raises(ValueError, match="no 'fc.weight'"):
        convert_torchvision("resnet18", source, str(tmp_path / "x.keras"))
    with pytest.raises(ValueError, match="Unknown torchvision ResNet"):
        convert_torchvision("resnet19", str(tmp_path / "trunk.npz"), "x.keras")
