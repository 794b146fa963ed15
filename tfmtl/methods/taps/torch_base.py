"""A torchvision ResNet checkpoint as the (frozen) base of TAPS.

`load_torchvision_base` fills a built TAPS `ResNet` from a torchvision
state dict file (`.pth` / `.pt` zip or legacy, `.safetensors`, `.npz`; see
`tfmtl.models.checkpoint_files`): every convolution's base kernel `w0` and
every task's batch norm get torchvision's weights and statistics (the
name map of `tfmtl.models.backbones.torchvision_resnet`); `fc` is not used
(each TAPS task has its own head). A checkpoint that wraps the state dict
(`{"state_dict": ...}`, `{"model": ...}`) or prefixes it (`module.` from
`DataParallel`) is unwrapped.

`tfmtl.methods.taps.base_loading.load_base` sends such files here, so the
TAPS configs take `BASE='/path/resnet34.pth'` (`gin_configs/taps/
torchvision_base.gin`).

Reference: Wallingford et al., CVPR 2022 (TAPS starts from torchvision's
ImageNet ResNets: `models.resnet34(pretrained=True)` in the reference's
`train_sequential.py`).
"""

from tfmtl.models import checkpoint_files
from tfmtl.models.backbones.torchvision_resnet import load_torchvision_resnet

_WRAPPERS = ("state_dict.", "model.", "module.")


def is_torchvision_file(path):
    """Whether `path` names a state-dict file (`.pth`, `.pt`, `.pth.tar`,
    `.ckpt`, `.bin`, `.safetensors`, `.npz`) rather than a tfmtl base."""
    return checkpoint_files.is_checkpoint_file(path)


def torchvision_state_dict(path):
    """`{torchvision name: array}` of a checkpoint file, unwrapped.

    A training state's `state_dict.` or `model.` entries are kept (its
    optimizer state and other entries dropped) and a `module.` prefix on
    every key (`DataParallel`) is removed, repeatedly.
    """
    arrays = checkpoint_files.read_checkpoint(path)
    changed = True
    while changed and arrays:
        changed = False
        for prefix in _WRAPPERS:
            inside = [k for k in arrays if k.startswith(prefix)]
            if inside and (prefix != "module." or len(inside) == len(arrays)):
                arrays = {k[len(prefix) :]: arrays[k] for k in inside}
                changed = True
    return arrays


def load_torchvision_base(backbone, path):
    """Fills a built TAPS `ResNet` (ImageNet stem) from a torchvision file.

    Args:
        backbone: the built TAPS backbone (`TAPSConv2D` convolutions, per
            task `TAPSBatchNormalization`), of the checkpoint's depth.
        path: the checkpoint file (local or `gs://`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    state = torchvision_state_dict(path)
    try:
        load_torchvision_resnet(backbone, state, classifier=None)
    except ValueError as error:
        raise ValueError(f"TAPS base {path}: {error}") from None
