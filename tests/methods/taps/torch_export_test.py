"""Export of a TAPS model as torchvision state dicts (torch_export).

Defining property: a task's exported state dict, loaded into a plain
torchvision-layout network (our converter, itself checked against
torchvision's logits in tests/models/torchvision_resnet_test.py), computes
that task's TAPS output; the base plus the task's deltas gives the same
kernels; untuned layers carry no delta. The interop test loads the `.pth`
into torchvision's `resnet18` with torch.
"""

import numpy as np
import pytest

from tests.models.torch_fixtures import run_torch
from tfmtl.methods.taps import TAPS
from tfmtl.methods.taps.torch_export import (
    base_state_dict,
    export_torchvision,
    task_delta_state_dict,
    task_state_dict,
)
from tfmtl.models import checkpoint_files
from tfmtl.models.backbones import ResNet
from tfmtl.models.backbones.torchvision_resnet import load_torchvision_resnet
from tfmtl.models.heads import ClassifierHead
from tfmtl.models.multitask_model import MultiTaskModel

TASKS = ("a", "b")


def _trained_taps(widths=(8, 8, 16, 16), size=32, classes=5, seed=0):
    """A TAPS model with random base, deltas, norms; some layers untuned."""
    rng = np.random.default_rng(seed)
    sharing = TAPS(ResNet(18, output_stride=32, widths=widths), TASKS)
    heads = {t: ClassifierHead(classes) for t in TASKS}
    model = MultiTaskModel(sharing, heads)
    images = rng.normal(size=(2, size, size, 3)).astype("f4")
    model(images, training=False)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "moving_variance" in variable.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif "score" in variable.path or "penalty" in variable.path:
            continue
        elif "gamma" in variable.path:
            value = rng.uniform(0.5, 1.0, shape)
        elif len(shape) >= 2:  # kernels and deltas: unit gain
            value = rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0, 0.1, shape)
        variable.assign(value.astype("f4"))
    for i, layer in enumerate(sharing.gated_layers()):
        layer.scores[0].assign(0.05 if i % 3 == 0 else 0.2)  # a: 2/3 tuned
        layer.scores[1].assign(0.2 if i % 4 == 0 else 0.05)  # b: 1/4 tuned
    return model, images


def _plain_logits(state, images, widths, classes):
    backbone = ResNet(18, output_stride=32, widths=widths)
    head = ClassifierHead(classes)
    head(backbone(images))
    load_torchvision_resnet(backbone, state, head.logits)
    return np.asarray(head(backbone(images, training=False)))


def test_task_state_dict_computes_the_task():
    model, images = _trained_taps()
    outputs = model(images, training=False)
    for task in TASKS:
        state = task_state_dict(model, task)
        logits = _plain_logits(state, images, (8, 8, 16, 16), 5)
        np.testing.assert_allclose(logits, outputs[task], atol=1e-4)
    a = _plain_logits(task_state_dict(model, "a"), images, (8, 8, 16, 16), 5)
    assert np.abs(a - np.asarray(outputs["b"])).max() > 0.1


def test_base_plus_deltas_and_only_tuned_layers():
    model, _ = _trained_taps()
    base = base_state_dict(model)
    layers = model.sharing.gated_layers()
    assert len(base) == len(layers) == 20  # ResNet-18: 17 convs + 3 proj
    for t, task in enumerate(TASKS):
        delta = task_delta_state_dict(model, task)
        full = task_state_dict(model, task)
        tuned = [k for k in base if k in delta]
        expected = sum(float(np.asarray(x.scores[t])) >= 0.1 for x in layers)
        assert len(tuned) == expected
        for key in base:
            added = delta.get(key, 0.0)
            np.testing.assert_allclose(full[key], base[key] + added, atol=1e-6)
        assert {"fc.weight", "layer4.1.bn2.running_var"} <= set(delta)


def test_export_files_read_back(tmp_path):
    model, _ = _trained_taps()
    paths = export_torchvision(model, tmp_path, suffix=".safetensors")
    assert sorted(paths) == sorted(
        ["base", "task_a_delta", "task_a", "task_b_delta", "task_b"]
    )
    back = checkpoint_files.read_checkpoint(paths["task_b"])
    for key, value in task_state_dict(model, "b").items():
        np.testing.assert_array_equal(back[key], value)
    with pytest.raises(ValueError, match="Unknown task 'c'"):
        task_state_dict(model, "c")


_TORCH_LOGITS = """
import numpy as np
model = torchvision.models.resnet18(weights=None, num_classes=7).eval()
model.load_state_dict(torch.load(sys.argv[1], weights_only=True))
images = torch.from_numpy(np.load(sys.argv[2])["images"])
with torch.no_grad():
    np.savez(sys.argv[3], logits=model(images).numpy())
"""


@pytest.mark.interop
def test_interop_torchvision_loads_the_task(tmp_path):
    model, images = _trained_taps((64, 128, 256, 512), 64, classes=7)
    paths = export_torchvision(model, tmp_path)
    np.savez(tmp_path / "in.npz", images=images.transpose(0, 3, 1, 2))
    run_torch(
        _TORCH_LOGITS,
        paths["task_a"],
        tmp_path / "in.npz",
        tmp_path / "out.npz",
    )
    theirs = np.load(tmp_path / "out.npz")["logits"]
    ours = np.asarray(model(images, training=False)["a"])
    difference = float(np.abs(ours - theirs).max())
    assert np.abs(theirs).max() > 0.1  # logits of a sensible size
    print(f"TAPS export -> torchvision resnet18: max abs diff {difference:.2e}")
    assert difference <= 1e-4
