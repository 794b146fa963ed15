r"""Converts a PyTorch checkpoint into a `.keras` model (no torch needed).

Usage:
  python -m tfmtl.convert --mode=torchvision --arch=resnet50 \
      --input=resnet50-0676ba61.pth --output=resnet50.keras

`--mode=torchvision` (the only family so far; AdaShare / NDDR / MTL-NAS
are not converted yet): `--arch` is `resnet18`, `resnet34`, `resnet50`,
`resnet101` or `resnet152`; `--input` a torchvision state dict (`.pth` /
`.pt` zip or legacy, `.safetensors`, `.npz`; local or `gs://`), unwrapped
from `state_dict` / `module.` (see `tfmtl.methods.taps.torch_base`). The
written model takes NHWC float32 images exactly as the torchvision module
takes them after its own preprocessing (RGB, ImageNet mean / std, channels
last) and returns its logits (as many as the checkpoint's `fc`).
Bad input ends with one error line and exit status 2.
"""

from absl import flags

from tfmtl import cli

FLAGS = flags.FLAGS
PROG = "tfmtl.convert"
MODES = ("torchvision",)

cli.define_common(__name__)
cli.define_mode(__name__, MODES, help_text="Checkpoint family.")
cli.define(__name__, "string", "arch", None, "Architecture, e.g. resnet50.")
cli.define(__name__, "string", "input", None, "The PyTorch checkpoint file.")
cli.define(__name__, "string", "output", None, "The `.keras` file to write.")


def convert_torchvision(arch, input_path, output_path):
    """Writes the `.keras` model of torchvision `arch` from `input_path`."""
    from tfmtl.methods.taps.torch_base import torchvision_state_dict
    from tfmtl.models.backbones.torchvision_resnet import (
        TORCHVISION_DEPTHS,
        torchvision_resnet,
    )

    if arch not in TORCHVISION_DEPTHS:
        raise ValueError(
            f"Unknown torchvision ResNet {arch!r}; one of "
            f"{', '.join(TORCHVISION_DEPTHS)}."
        )
    state = torchvision_state_dict(input_path)
    if "fc.weight" not in state:
        raise ValueError(f"{input_path} has no 'fc.weight' (a classifier).")
    num_classes = int(state["fc.weight"].shape[0])
    model = torchvision_resnet(arch, state, num_classes=num_classes)
    model.save(output_path)
    return model


def _run():
    cli.check_mode(MODES, default="torchvision")
    for name in ("arch", "input", "output"):
        if not getattr(FLAGS, name):
            raise ValueError(f"--{name} is required.")
    if not FLAGS.output.endswith(".keras"):
        raise ValueError(f"--output must end with .keras: {FLAGS.output}.")
    convert_torchvision(FLAGS.arch, FLAGS.input, FLAGS.output)
    print(FLAGS.output)


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__)


if __name__ == "__main__":
    main()
