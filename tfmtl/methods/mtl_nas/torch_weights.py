"""Fills our VGG-16 branches from MTL-NAS / NDDR PyTorch state dicts.

MTL-NAS (github.com/bhpfelix/MTLNAS) ships DeepLab-LargeFOV VGG-16 weights
converted from NDDR-CNN's TensorFlow checkpoints:
`weights/vgg_deeplab_lfov/tf_deeplab.pth` (ImageNet / DeepLab init) and the
NYUv2 single-task nets `weights/nyu_v2/tf_finetune_seg.pth` and
`tf_finetune_normal.pth`, all state dicts of `DeepLabLargeFOVBN`
(`core/models/vgg16_lfov_bn.py`); the searched architectures use
`DeepLabLargeFOVBN16` (`core/models/vgg16_lfov_bn_16_stages.py`, one stage
per convolution), which `init_weights` fills from the same files in order.

Name map (written from those two files; conv `j` of VGG stage `s`, both
0-based, is our `conv<s+1>_<j+1>`):

* `DeepLabLargeFOVBN`: `stages.<s>.feature.<3j>` (conv, no bias) and
  `.<3j+1>` (`BatchNorm2d`); fc6 `head.0` / `head.1`, fc7 `head.4` /
  `head.5`, the task's classifier (fc8) `head.8` (weight and bias);
* `DeepLabLargeFOVBN16`: `stages.<i>.feature.<p>` / `.<p+1>` for the
  `i`-th convolution, `p` = 2 after a padded pool (conv2_1, conv3_1,
  conv4_1), 1 after pool4 (conv5_1), else 0; fc6 `head.2` / `head.3`, fc7
  `head.6` / `head.7`, fc8 `head.10`;
* both also hold the same modules under `features.<n>` (the flat layer
  list kept "for backward compatibility with weight loading"); either
  spelling is accepted; a `features` twin of a `stages` entry must be
  equal to it.

Our VGG-16 convolutions have a bias (DeepLab's own layout); the reference's
are bias-free, so ours get zeros unless the state dict has a `.bias`.
Convolutions go from OIHW to HWIO; batch norms as in `BatchNorm2d`. The
MTL-NAS networks' 1e-3 batch-norm epsilon is our `VGG16` default.
"""

import keras
import numpy as np

from tfmtl.models.backbones.vgg16_weights import vgg16_units
from tfmtl.models.state_dict_taker import StateDictTaker

_UNITS = [
    f"conv{s + 1}_{j + 1}"
    for s, n in enumerate((2, 2, 3, 3, 3))
    for j in range(n)
]
_STAGE_OFFSETS = (0, 8, 16, 27, 37)  # first layer of each stage in features
_POSITION_16 = (0, 0, 2, 0, 2, 0, 0, 2, 0, 0, 1, 0, 0)
_HEADS = {
    "DeepLabLargeFOVBN": {"fc6": (0, 1), "fc7": (4, 5), "fc8": 8},
    "DeepLabLargeFOVBN16": {"fc6": (2, 3), "fc7": (6, 7), "fc8": 10},
}
_BN = (("weight", "gamma"), ("bias", "beta"))
_BN += (("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def reference_layout(state_dict):
    """`"DeepLabLargeFOVBN"` or `"DeepLabLargeFOVBN16"`, from the keys."""
    if "stages.12.feature.0.weight" in state_dict:
        return "DeepLabLargeFOVBN16"
    if "head.2.weight" in state_dict or "head.10.weight" in state_dict:
        return "DeepLabLargeFOVBN16"
    return "DeepLabLargeFOVBN"


def reference_names(layout):
    """`{our unit: ([conv names], [norm names])}`; the first name of each
    list is preferred, the others are twins of the same module."""
    names = {}
    for i, unit in enumerate(_UNITS):
        stage, j = int(unit[4]) - 1, int(unit[6]) - 1
        flat = _STAGE_OFFSETS[stage] + 3 * j
        if layout == "DeepLabLargeFOVBN16":
            own = (f"stages.{i}.feature.{_POSITION_16[i]}", _POSITION_16[i])
        else:
            own = (f"stages.{stage}.feature.{3 * j}", 3 * j)
        prefix = own[0].rsplit(".", 1)[0]
        names[unit] = (
            [own[0], f"features.{flat}"],
            [f"{prefix}.{own[1] + 1}", f"features.{flat + 1}"],
        )
    head = _HEADS[layout]
    for unit in ("fc6", "fc7"):
        conv, norm = head[unit]
        names[unit] = ([f"head.{conv}"], [f"head.{norm}"])
    return names


class VGGStateDictTaker(StateDictTaker):
    """`StateDictTaker` of a VGG-16 state dict, with twin layer names."""

    def __init__(self, state_dict):
        super().__init__(state_dict, "VGG-16")

    def pick(self, names, suffixes):
        """The first of `names` whose `.weight` is present; the other
        (twin) names' `suffixes` entries are marked used."""
        found = [n for n in names if f"{n}.weight" in self.state_dict]
        if not found:
            raise ValueError(
                f"The VGG-16 state dict has no {names[0] + '.weight'!r}."
            )
        for twin in found[1:]:
            for suffix in suffixes:
                key, own = f"{twin}.{suffix}", f"{found[0]}.{suffix}"
                if key in self.state_dict and own in self.state_dict:
                    a, b = self.state_dict[key], self.state_dict[own]
                    if np.shape(a) != np.shape(b) or not np.array_equal(a, b):
                        raise ValueError(
                            f"{key!r} and {own!r} name the same layer but "
                            "differ (a corrupted or edited state dict?)."
                        )
                self.used.add(key)
        return found[0]


def assign_conv(take, name, conv, flip_input=False):
    kh, kw, cin, cout = conv.kernel.shape
    kernel = take(f"{name}.weight", (cout, cin, kh, kw)).transpose(2, 3, 1, 0)
    if flip_input:
        kernel = kernel[:, :, ::-1, :]
    conv.kernel.assign(kernel)
    if conv.use_bias:
        bias = np.zeros((cout,), np.float32)
        if f"{name}.bias" in take.state_dict:
            bias = take(f"{name}.bias", (cout,))
        conv.bias.assign(bias)


def assign_norm(take, name, norm):
    size = (int(norm.moving_mean.shape[0]),)
    for theirs, ours in _BN:
        getattr(norm, ours).assign(take(f"{name}.{theirs}", size))


def strip_prefix(state_dict, prefix):
    if not prefix:
        return dict(state_dict)
    return {
        k[len(prefix) :]: v
        for k, v in state_dict.items()
        if k.startswith(prefix)
    }


def load_deeplab_vgg16(
    backbone, state_dict, head=None, channel_order="rgb", prefix="", strict=True
):
    """Assigns a `DeepLabLargeFOVBN(16)` state dict to a built `VGG16`.

    Args:
        backbone: built `VGG16(deeplab_largefov=True)` (per-stage or
            per-convolution blocks, full width).
        state_dict: `{name: array}` (e.g. `read_checkpoint("tf_deeplab.pth")`).
        head: optional built `DenseHead(num_layers=0)` (or a `Conv2D`)
            receiving fc8 (`head.8` / `head.10`); None ignores fc8, as the
            reference does when it starts from `tf_deeplab.pth`.
        channel_order: `"rgb"` keeps conv1_1 as is (our input in the
            reference's channel order); `"bgr"` reverses its input channels
            so the converted network takes RGB where the file expects BGR.
        prefix: key prefix of the network inside a larger state dict
            (`"net1."`, `"net2."` in an NDDR / MTL-NAS checkpoint).
        strict: raise on entries nothing used (besides
            `num_batches_tracked`).

    Returns:
        The set of the state dict's keys that were used.

    Raises:
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(
            f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}."
        )
    state = strip_prefix(state_dict, prefix)
    if not state:
        raise ValueError(f"The state dict has no key starting with {prefix!r}.")
    layout = reference_layout(state)
    units = vgg16_units(backbone)
    if "fc6" not in units:
        raise ValueError("MTL-NAS weights need VGG16(deeplab_largefov=True).")
    take = VGGStateDictTaker(state)
    for unit, (convs, norms) in reference_names(layout).items():
        conv, norm = units[unit]
        name = take.pick(convs, ("weight", "bias"))
        flip = unit == "conv1_1" and channel_order == "bgr"
        assign_conv(take, name, conv, flip)
        assign_norm(take, take.pick(norms, [t for t, _ in _BN]), norm)
    fc8 = f"head.{_HEADS[layout]['fc8']}"
    if head is not None:
        conv = getattr(head, "output_conv", head)
        if not isinstance(conv, keras.layers.Conv2D):
            raise ValueError("head must be a DenseHead or a Conv2D (fc8).")
        assign_conv(take, fc8, conv)
    else:
        take.used.update({f"{fc8}.weight", f"{fc8}.bias"})
    unused = [
        k
        for k in state
        if k not in take.used and not k.endswith("num_batches_tracked")
    ]
    if strict and unused:
        raise ValueError(
            f"The {layout} state dict has {len(unused)} entries our VGG16 "
            f"does not use, the first {prefix + unused[0]!r}."
        )
    return {prefix + k for k in take.used}


def load_branches(model, state_dicts, prefixes=None, **kwargs):
    """Fills each task's VGG-16 branch (and fc8 head) of an NDDR / MTL-NAS
    model, e.g. from `tf_finetune_seg.pth` and `tf_finetune_normal.pth`
    (the reference's default start, `TRAIN.WEIGHT_1/2 = 'Seg' / 'Normal'`).

    Args:
        model: built `MultiTaskModel` whose sharing has `branches` (one
            `VGG16` per task, in `sharing.tasks` order) and whose heads are
            `DenseHead(num_layers=0)`.
        state_dicts: one `{name: array}` per task (the same dict may be
            passed several times, e.g. with `prefixes=("net1.", "net2.")`).
        prefixes: None, or one key prefix per task.
        **kwargs: forwarded to `load_deeplab_vgg16` (`channel_order`,
            `strict`); `head=None` leaves the heads untouched.
    """
    tasks = model.sharing.tasks
    if len(state_dicts) != len(tasks):
        raise ValueError(
            f"{len(state_dicts)} state dicts for {len(tasks)} task branches."
        )
    prefixes = prefixes or ("",) * len(tasks)
    use_heads = kwargs.pop("head", True) is not None
    for task, branch, state, prefix in zip(
        tasks, model.sharing.branches, state_dicts, prefixes
    ):
        head = model.heads[task] if use_heads else None
        load_deeplab_vgg16(branch, state, head=head, prefix=prefix, **kwargs)
