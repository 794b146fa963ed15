"""Writes `tests/fixtures/converters`: the reference networks' outputs.

The AdaShare and MTL-NAS converters are checked against the original
repositories' own model classes, run (never copied) from checkouts of
github.com/sunxm2357/AdaShare and github.com/bhpfelix/MTLNAS:

* AdaShare `models/deeplab_resnet.py` `MTL2` (Deeplab-ResNet backbone, four
  `Classification_Module` ASPP branches per task, `task<i>_logits`);
* MTL-NAS `core/models/vgg16_lfov_bn.py` `DeepLabLargeFOVBN` (the layout
  of `tf_deeplab.pth`, `tf_finetune_seg.pth`, `tf_finetune_normal.pth`)
  and `core/models/vgg16_lfov_bn_16_stages.py` `DeepLabLargeFOVBN16`.

Each network's state dict is filled by `fill_state_dict` from a seeded
numpy generator and run in eval mode on `input_images`; `<name>.json`
holds the state-dict keys, shapes and dtypes and the run's settings,
`<name>.npz` the input and outputs. A test rebuilds the same weights from
the key list with numpy alone, so no weights are stored.

Run with a python that has torch and the references' imports (the
references import scipy, tqdm, yacs, matplotlib at module level):

    python scripts/make_converter_fixtures.py --adashare ../AdaShare \\
        --mtlnas ../MTLNAS --out tests/fixtures/converters

`fill_state_dict`, `input_images` and `CASES` need numpy only; the tests
import them.
"""

import argparse
import json
import os
import sys

import numpy as np

# name: (reference, settings). Policies: 1 = execute, one row per task.
CASES = {
    "adashare_resnet18": {
        "reference": "adashare",
        "seed": 18,
        "layers": [2, 2, 2, 2],
        "tasks_num_class": [5, 3],
        "input_shape": [1, 3, 97, 113],
        "policies": [[1, 0, 1, 1, 0, 1, 1, 0], [1, 1, 0, 1, 1, 0, 0, 1]],
    },
    "adashare_resnet34": {
        "reference": "adashare",
        "seed": 34,
        "layers": [3, 4, 6, 3],
        "tasks_num_class": [4, 3, 1],
        "input_shape": [1, 3, 65, 81],
        "policies": [
            [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1],
        ],
    },
    "deeplab_vgg16": {
        "reference": "mtlnas",
        "model": "DeepLabLargeFOVBN",
        "seed": 16,
        "out_dim": 5,
        "input_shape": [1, 3, 96, 128],
    },
    "deeplab_vgg16_13_stages": {
        "reference": "mtlnas",
        "model": "DeepLabLargeFOVBN16",
        "seed": 13,
        "out_dim": 3,
        "input_shape": [1, 3, 64, 96],
    },
    "mtl_nas_supernet": {
        "reference": "mtlnas",
        "model": "GeneralizedMTLNASNet",
        "seed": 20,
        "out_dims": [4, 3],
        "input_shape": [1, 3, 64, 96],
    },
    "nddr_net": {
        "reference": "mtlnas",
        "model": "NDDRNet",
        "seed": 19,
        "out_dims": [4, 3],
        "input_shape": [1, 3, 64, 96],
    },
}


def fill_state_dict(keys, seed, aliases=None):
    """`{key: array}` drawn in `keys` order ((name, shape, dtype) triples).

    `aliases` maps a key to an earlier key naming the same tensor (MTL-NAS
    registers every layer under `stages` and `features`): it gets that
    key's value instead of a draw, as a real state dict has.

    Convolution weights ~ N(0, 1 / fan_in); batch-norm weights ~ U(0.3,
    0.6) (keeps the residual sums of a deep trunk near unit scale); biases
    and running means ~ N(0, 0.1^2); running variances ~ U(0.5, 1.5);
    policy logits ~ N(0, 1); `num_batches_tracked` 0. Drawn in float64,
    then cast to the key's dtype.
    """
    rng = np.random.default_rng(seed)
    out = {}
    aliases = aliases or {}
    for name, shape, dtype in keys:
        shape = tuple(shape)
        if name in aliases:
            out[name] = out[aliases[name]]
            continue
        if name.endswith("num_batches_tracked"):
            value = np.zeros(shape)
        elif name.endswith("_logits"):
            value = rng.normal(0.0, 1.0, shape)
        elif name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean") or name.endswith("bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) >= 2:
            value = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[1:])), shape)
        else:
            value = rng.uniform(0.3, 0.6, shape)
        out[name] = value.astype(dtype)
    return out


def input_images(shape, seed):
    """float32 NCHW images ~ N(0, 1), as the references take them."""
    return np.random.default_rng(seed + 1000).normal(size=shape).astype("f4")


def policy_rows(decisions):
    """`[L, 2]` one-hot rows (column 0 execute) of 0/1 decisions."""
    d = np.asarray(decisions, np.float64)
    return np.stack([d, 1.0 - d], axis=1)


def _keys(module):
    return [
        (k, list(v.shape), str(v.dtype).replace("torch.", ""))
        for k, v in module.state_dict().items()
    ]


def _aliases(module):
    """`{key: first key}` for state-dict entries sharing a tensor."""
    first, out = {}, {}
    for key, value in module.state_dict().items():
        pointer = (value.data_ptr(), tuple(value.shape))
        if pointer in first:
            out[key] = first[pointer]
        else:
            first[pointer] = key
    return out


def _fill(module, keys, seed):
    import torch

    arrays = fill_state_dict(keys, seed, _aliases(module))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    module.eval()
    return arrays


def _adashare(case, root):
    import torch

    sys.path.insert(0, root)
    from models.deeplab_resnet import MTL2, BasicBlock

    net = MTL2(BasicBlock, case["layers"], case["tasks_num_class"], "equal")
    keys, aliases = _keys(net), _aliases(net)
    arrays = _fill(net, keys, case["seed"])
    x = torch.from_numpy(input_images(case["input_shape"], case["seed"]))
    outputs = {"input": x.numpy()}
    runs = {"fixed": [policy_rows(p) for p in case["policies"]]}
    # The argmax of the logits (column 0 = execute), the deterministic
    # policy our learned-policy model uses with eval_policy="argmax".
    runs["argmax"] = [
        policy_rows(1 - np.argmax(arrays[f"task{t + 1}_logits"], axis=1))
        for t in range(len(case["tasks_num_class"]))
    ]
    with torch.no_grad():
        for run, policies in runs.items():
            net.policys = [torch.from_numpy(p) for p in policies]
            out, _, _ = net(x, 1.0, True, mode="fix_policy")
            for t, y in enumerate(out):
                outputs[f"{run}_task{t + 1}"] = y.numpy()
    return keys, aliases, outputs


def _supernet(case):
    """`GeneralizedMTLNASNet` over two `DeepLabLargeFOVBN16` with the
    reference's VGG connectivity (`core/models/__init__.py`), evaluated
    with the default `ARCH.HARD_EVAL` (edges with alpha > 0)."""
    import torch
    from core.config import cfg
    from core.models import (
        DeepLabLargeFOVBN16,
        GeneralizedMTLNASNet,
        vgg_connectivity,
    )

    cfg.defrost()
    cfg.ARCH.SEARCHSPACE = "GeneralizedMTLNAS"
    cfg.MODEL.BACKBONE = "VGG16_13_Stage"
    nets = [DeepLabLargeFOVBN16(3, n, weights="") for n in case["out_dims"]]
    net = GeneralizedMTLNASNet(
        cfg, *nets, vgg_connectivity(), vgg_connectivity()
    )
    keys, aliases = _keys(net), _aliases(net)
    _fill(net, keys, case["seed"])
    x = torch.from_numpy(input_images(case["input_shape"], case["seed"]))
    with torch.no_grad():
        result = net(x)
    outputs = {"input": x.numpy()}
    outputs.update(out1=result.out1.numpy(), out2=result.out2.numpy())
    return keys, aliases, outputs


def _nddr(case):
    """`NDDRNet` (`core/models/nddr_net.py`) over two `DeepLabLargeFOVBN`:
    an NDDR layer after each of the five VGG stages, no shortcut."""
    import torch
    from core.config import cfg
    from core.models import DeepLabLargeFOVBN, NDDRNet

    cfg.defrost()
    cfg.ARCH.SEARCHSPACE = ""
    nets = [DeepLabLargeFOVBN(3, n, weights="") for n in case["out_dims"]]
    net = NDDRNet(cfg, *nets)
    keys, aliases = _keys(net), _aliases(net)
    _fill(net, keys, case["seed"])
    x = torch.from_numpy(input_images(case["input_shape"], case["seed"]))
    with torch.no_grad():
        result = net(x)
    outputs = {"input": x.numpy()}
    outputs.update(out1=result.out1.numpy(), out2=result.out2.numpy())
    return keys, aliases, outputs


def _mtlnas(case, root):
    import torch

    sys.path.insert(0, root)
    if case["model"] == "GeneralizedMTLNASNet":
        return _supernet(case)
    if case["model"] == "NDDRNet":
        return _nddr(case)
    from core.models import DeepLabLargeFOVBN, DeepLabLargeFOVBN16

    cls = {"DeepLabLargeFOVBN": DeepLabLargeFOVBN}
    cls["DeepLabLargeFOVBN16"] = DeepLabLargeFOVBN16
    net = cls[case["model"]](3, case["out_dim"], weights="")
    keys, aliases = _keys(net), _aliases(net)
    _fill(net, keys, case["seed"])
    x = torch.from_numpy(input_images(case["input_shape"], case["seed"]))
    with torch.no_grad():
        features = x
        for stage in net.stages:
            features = stage(features)
        fc7 = net.head[:-1](features)
        out = net(x)
    outputs = {"input": x.numpy(), "fc7": fc7.numpy(), "output": out.numpy()}
    return keys, aliases, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adashare", required=True, help="AdaShare checkout")
    parser.add_argument("--mtlnas", required=True, help="MTLNAS checkout")
    parser.add_argument("--out", default="tests/fixtures/converters")
    parser.add_argument("--cases", nargs="*", default=sorted(CASES))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.cases:
        case = CASES[name]
        if case["reference"] == "adashare":
            result = _adashare(case, os.path.abspath(args.adashare))
        else:
            result = _mtlnas(case, os.path.abspath(args.mtlnas))
        keys, aliases, outputs = result
        meta = {"case": case, "keys": keys, "aliases": aliases}
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(meta, f)
        np.savez_compressed(os.path.join(args.out, f"{name}.npz"), **outputs)
        print(
            name, len(keys), "keys;", {k: v.shape for k, v in outputs.items()}
        )


if __name__ == "__main__":
    main()
