"""Writes the small PyTorch fixtures of `tests/fixtures/torch` (needs torch).

CI has no torch, so the tests of the checkpoint reader and the torchvision
converter read files that torch wrote once:

* `tiny_zip.pth`, `tiny_legacy.pth`, `tiny.safetensors`: the state dict (and
  an epoch number) of a tiny `nn.Sequential` (conv, batch norm, linear; plus
  float16, bfloat16, int64 and a strided view), saved by `torch.save` in the
  zip and the legacy format and by `safetensors.torch.save_file`;
  `tiny_expected.npz` holds the same arrays as numpy wrote them.
* `<arch>.json` and `<arch>_logits.npz` for torchvision `resnet18` and
  `resnet50`: the state-dict keys, shapes and dtypes, and the logits of the
  network (eval mode) on `input_images()`, its weights filled by
  `fill_state_dict` from a numpy generator, so a test rebuilds the same
  weights without storing them.

Run in an environment with torch and torchvision (not tfmtl's):

    python scripts/make_torch_fixtures.py --out tests/fixtures/torch
    python scripts/make_torch_fixtures.py --out /tmp/fx --archs resnet34 \\
        resnet101 --checkpoints   # also writes <arch>.pth (interop tests)

`fill_state_dict` and `input_images` need numpy only; the tests import them.
"""

import argparse
import json
import os

import numpy as np

SEEDS = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101}
INPUT_SHAPE = (2, 3, 64, 80)  # NCHW, as torchvision takes it


def fill_state_dict(keys, seed):
    """`{key: array}` drawn in `keys` order ((name, shape, dtype) triples).

    Conv / linear weights ~ N(0, 1 / fan_in), batch-norm weights ~ U(0.5, 1),
    biases ~ N(0, 0.1^2), running means ~ N(0, 0.1^2), running variances
    ~ U(0.5, 1.5), `num_batches_tracked` 0, all drawn in float64 and cast.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, dtype in keys:
        shape = tuple(shape)
        if name.endswith("num_batches_tracked"):
            value = np.zeros(shape)
        elif name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean") or name.endswith("bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) >= 2:
            value = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[1:])), shape)
        else:
            value = rng.uniform(0.5, 1.0, shape)
        out[name] = value.astype(dtype)
    return out


def input_images(seed=0):
    """The fixed float32 NCHW input of the logit fixtures."""
    return np.random.default_rng(seed).normal(size=INPUT_SHAPE).astype("f4")


def _torchvision():
    import torch

    try:
        import torchvision
    except RuntimeError:
        # A torchvision wheel whose compiled ops do not match this torch
        # fails registering them; the models need none of the ops.
        import sys

        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        torch.library.register_fake = lambda *a, **k: lambda f: f
        import torchvision
    return torch, torchvision


def make_tiny(out):
    torch, _ = _torchvision()
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2)
    )
    module[1].running_mean.uniform_(-1, 1)
    state = module.state_dict()
    state["half"] = torch.arange(6, dtype=torch.float16).reshape(2, 3).t()
    state["bf16"] = torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)
    state["view"] = state["0.weight"][1, :, 1]
    expected = {
        k: (v.float() if v.dtype == torch.bfloat16 else v).numpy()
        for k, v in state.items()
    }
    np.savez(os.path.join(out, "tiny_expected.npz"), **expected)
    saved = {"state_dict": state, "epoch": 7}
    torch.save(saved, os.path.join(out, "tiny_zip.pth"))
    torch.save(
        saved,
        os.path.join(out, "tiny_legacy.pth"),
        _use_new_zipfile_serialization=False,
    )
    from safetensors.torch import save_file

    contiguous = {k: v.contiguous() for k, v in state.items()}
    save_file(contiguous, os.path.join(out, "tiny.safetensors"))


def make_resnet(arch, out, checkpoint=False):
    torch, torchvision = _torchvision()
    model = getattr(torchvision.models, arch)(weights=None).eval()
    keys = [
        (k, list(v.shape), str(v.numpy().dtype))
        for k, v in model.state_dict().items()
    ]
    state = fill_state_dict(keys, SEEDS[arch])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    with torch.no_grad():
        logits = model(torch.from_numpy(input_images())).numpy()
    with open(os.path.join(out, f"{arch}.json"), "w") as f:
        json.dump({"seed": SEEDS[arch], "keys": keys}, f)
    np.savez(os.path.join(out, f"{arch}_logits.npz"), logits=logits)
    if checkpoint:
        torch.save(model.state_dict(), os.path.join(out, f"{arch}.pth"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/fixtures/torch")
    parser.add_argument("--archs", nargs="*", default=["resnet18", "resnet50"])
    parser.add_argument("--checkpoints", action="store_true")
    parser.add_argument("--no_tiny", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if not args.no_tiny:
        make_tiny(args.out)
    for arch in args.archs:
        make_resnet(arch, args.out, args.checkpoints)


if __name__ == "__main__":
    main()
