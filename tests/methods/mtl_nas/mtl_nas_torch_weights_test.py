"""MTL-NAS / NDDR converter: our VGG-16 equals the reference after loading.

The fixtures (`tests/fixtures/converters/deeplab_vgg16*`) were written by
`scripts/make_converter_fixtures.py` with MTL-NAS's own classes
(github.com/bhpfelix/MTLNAS, `core/models/vgg16_lfov_bn.py`
`DeepLabLargeFOVBN`, the layout of `tf_deeplab.pth` and the NYUv2
single-task nets; `core/models/vgg16_lfov_bn_16_stages.py`
`DeepLabLargeFOVBN16`, the searched networks' branches) in eval mode: keys
and shapes, the input, fc7's features and fc8's output. The same weights
are rebuilt with numpy, converted, and our outputs compared. The inputs'
sides are multiples of 8, where the reference's `ConstantPad2d((0, 1, 0,
1))` + 3x3/2 max pool equals our TF "same" pool.
"""

import functools
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from tfmtl.methods.mtl_nas import MTLNAS, NDDR
from tfmtl.methods.mtl_nas.torch_fusion_weights import load_mtl_nas, load_nddr
from tfmtl.methods.mtl_nas.torch_weights import (
    load_branches,
    load_deeplab_vgg16,
    reference_layout,
)
from tfmtl.models.backbones import VGG16
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "converters"
TOLERANCE = 1e-4


@functools.cache
def script():
    path = ROOT / "scripts" / "make_converter_fixtures.py"
    spec = importlib.util.spec_from_file_location("converter_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def fixture(name):
    with open(FIXTURES / f"{name}.json") as f:
        meta = json.load(f)
    with np.load(FIXTURES / f"{name}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    state = script().fill_state_dict(
        meta["keys"], meta["case"]["seed"], meta["aliases"]
    )
    return meta["case"], state, arrays


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


@functools.cache
def network(per_conv_blocks):
    backbone = VGG16(deeplab_largefov=True, per_conv_blocks=per_conv_blocks)
    backbone.build((None, None, None, 3))
    return backbone


def run(backbone, head, images):
    fc7 = backbone(images, training=False)
    return np.asarray(fc7), np.asarray(head(fc7, training=False))


def check(name, per_conv_blocks, state=None, channel_order="rgb"):
    case, fresh, arrays = fixture(name)
    backbone = network(per_conv_blocks)
    head = DenseHead(case["out_dim"], num_layers=0)
    head.build((None, None, None, 1024))
    load_deeplab_vgg16(
        backbone, fresh if state is None else state, head, channel_order
    )
    images = nhwc(arrays["input"])
    if channel_order == "bgr":
        images = images[..., ::-1]
    fc7, out = run(backbone, head, images)
    diffs = [
        float(np.max(np.abs(fc7 - nhwc(arrays["fc7"])))),
        float(np.max(np.abs(out - nhwc(arrays["output"])))),
    ]
    scale = float(np.max(np.abs(arrays["output"])))
    print(f"{name}: max abs diff fc7, fc8 {diffs} (max |fc8| {scale:.3g})")
    return max(diffs)


def test_deeplab_largefov_matches_reference():
    """`DeepLabLargeFOVBN` (tf_deeplab.pth / tf_finetune_*.pth layout)
    into our per-stage VGG16 + DenseHead(num_layers=0) as fc8."""
    assert check("deeplab_vgg16", per_conv_blocks=False) <= TOLERANCE


def test_sixteen_stage_layout_matches_reference():
    """`DeepLabLargeFOVBN16` (MTL-NAS branches) into our per-conv VGG16."""
    _, state, _ = fixture("deeplab_vgg16_13_stages")
    assert reference_layout(state) == "DeepLabLargeFOVBN16"
    assert check("deeplab_vgg16_13_stages", per_conv_blocks=True) <= TOLERANCE


def test_features_spelling_alone_is_enough():
    """Only the flat `features.<n>` twins (and the head): same network."""
    _, state, _ = fixture("deeplab_vgg16")
    flat = {k: v for k, v in state.items() if not k.startswith("stages.")}
    assert check("deeplab_vgg16", False, state=flat) <= TOLERANCE


def test_bgr_file_takes_rgb_input():
    """`channel_order="bgr"` reverses conv1_1's input: our RGB input gives
    what the reference gives on the BGR image."""
    assert check("deeplab_vgg16", False, channel_order="bgr") <= TOLERANCE


def test_comparison_can_fail():
    """A different network (the other fixture's weights, same layout map)
    is far from the reference outputs."""
    case, _, arrays = fixture("deeplab_vgg16")
    backbone = network(False)
    with open(FIXTURES / "deeplab_vgg16.json") as f:
        meta = json.load(f)
    other = script().fill_state_dict(meta["keys"], 99, meta["aliases"])
    head = DenseHead(case["out_dim"], num_layers=0)
    head.build((None, None, None, 1024))
    load_deeplab_vgg16(backbone, other, head)
    _, out = run(backbone, head, nhwc(arrays["input"]))
    assert np.max(np.abs(out - nhwc(arrays["output"]))) > 1e-2


def _message(mutate, **kwargs):
    _, state, _ = fixture("deeplab_vgg16")
    state = dict(state)
    mutate(state)
    with pytest.raises(ValueError) as error:
        load_deeplab_vgg16(network(False), state, **kwargs)
    return str(error.value)


def test_missing_key_is_named():
    def drop(s):
        s.pop("stages.3.feature.4.running_var")
        s.pop("features.31.running_var")

    assert "'stages.3.feature.4.running_var'" in _message(drop)


def test_mis_shaped_key_is_named():
    def shrink(s):
        s["head.4.weight"] = np.zeros((1024, 512, 1, 1), np.float32)

    message = _message(shrink)
    assert "'head.4.weight'" in message and "(1024, 512, 1, 1)" in message


def test_unexpected_key_is_named():
    def add(s):
        s["nddrs.0.conv.weight"] = np.zeros(1, np.float32)

    assert "'nddrs.0.conv.weight'" in _message(add)


def test_differing_twins_are_refused():
    def edit(s):
        s["features.3.weight"] = s["features.3.weight"] + 1.0

    assert "'features.3.weight'" in _message(edit)


def test_missing_prefix_is_refused():
    assert "'net3.'" in _message(lambda s: None, prefix="net3.")


@pytest.mark.large
def test_nddr_branches_from_single_task_nets():
    """`load_branches` puts state dict k (here one NDDR-style dict with
    `net1.` / `net2.` prefixes) into branch k and head k: each branch's
    fc7 and each head's fc8 equal the matching reference network's."""
    names = ("deeplab_vgg16", "deeplab_vgg16_13_stages")
    tasks = ("segmentation", "normals")
    combined = {}
    for i, name in enumerate(names):
        combined.update(
            {f"net{i + 1}.{k}": v for k, v in fixture(name)[1].items()}
        )
    sharing = NDDR(VGG16(deeplab_largefov=True), tasks=tasks)
    heads = {
        t: DenseHead(fixture(n)[0]["out_dim"], num_layers=0)
        for t, n in zip(tasks, names)
    }
    model = MultiTaskModel(sharing, heads)
    model(np.zeros((1, 32, 32, 3), np.float32), training=False)
    load_branches(model, [combined, combined], prefixes=("net1.", "net2."))
    for branch, task, name in zip(sharing.branches, tasks, names):
        arrays = fixture(name)[2]
        fc7, out = run(branch, model.heads[task], nhwc(arrays["input"]))
        assert np.max(np.abs(fc7 - nhwc(arrays["fc7"]))) <= TOLERANCE
        assert np.max(np.abs(out - nhwc(arrays["output"]))) <= TOLERANCE


def compare_two(model, name, tasks):
    """Max abs diff of both heads' outputs against `out1` / `out2`."""
    arrays = fixture(name)[2]
    features = model.sharing(nhwc(arrays["input"]), training=False)
    diffs = []
    for task, key in zip(tasks, ("out1", "out2")):
        ours = np.asarray(model.heads[task](features[task], training=False))
        diffs.append(float(np.max(np.abs(ours - nhwc(arrays[key])))))
    print(f"{name}: max abs diff {diffs}")
    return max(diffs)


@pytest.mark.large
def test_nddr_net_matches_reference():
    """MTL-NAS's `NDDRNet` (`core/models/nddr_net.py`: two
    `DeepLabLargeFOVBN`, an `NDDR` after each of the five stages) into our
    `NDDR` sharing (fusion after each pool) with fc8 heads."""
    case, state, arrays = fixture("nddr_net")
    tasks = ("segmentation", "normals")
    sharing = NDDR(VGG16(deeplab_largefov=True), tasks=tasks)
    heads = {
        t: DenseHead(n, num_layers=0) for t, n in zip(tasks, case["out_dims"])
    }
    model = MultiTaskModel(sharing, heads)
    model(nhwc(arrays["input"]), training=False)
    load_nddr(model, state)
    assert compare_two(model, "nddr_net", tasks) <= TOLERANCE


@pytest.mark.large
def test_supernet_matches_reference():
    """`GeneralizedMTLNASNet` (`core/models/supernet.py`, VGG connectivity,
    hard evaluation: edges with alpha > 0) into our `MTLNAS` with hard
    eval gates: branches, NDDR fusions, logits and fc8 heads."""
    case, state, arrays = fixture("mtl_nas_supernet")
    tasks = ("segmentation", "normals")
    sharing = MTLNAS(
        VGG16(deeplab_largefov=True, per_conv_blocks=True), tasks=tasks
    )
    heads = {
        t: DenseHead(n, num_layers=0) for t, n in zip(tasks, case["out_dims"])
    }
    model = MultiTaskModel(sharing, heads)
    images = nhwc(arrays["input"])
    model(images, training=False)
    checkpoint = {f"model_state_dict.{k}": v for k, v in state.items()}
    checkpoint["optimizer_state_dict.state.0.momentum_buffer"] = np.zeros(1)
    load_mtl_nas(model, checkpoint)
    kept = np.asarray(sharing.alpha) > 0
    assert 0 < kept.sum() < kept.size  # some edges on, some off
    assert compare_two(model, "mtl_nas_supernet", tasks) <= TOLERANCE
