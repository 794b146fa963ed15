"""Fills our `ResNet` (and a classifier) from a torchvision ResNet state dict.

The name map follows torchvision's `torchvision/models/resnet.py`: the stem
is `conv1` / `bn1`; stage `s` (1-4) is `layer{s}`, a `nn.Sequential` of
blocks `layer{s}.{i}` (0-based); a `BasicBlock` has `conv1`, `bn1`,
`conv2`, `bn2`, a `Bottleneck` also `conv3`, `bn3`; the projection shortcut
is `downsample.0` (1x1 conv) and `downsample.1` (norm); the classifier is
`fc` (`nn.Linear`, after global average pooling). Our stem's `stem_conv` /
`stem_bn`, stage `s` block `i+1` (`stage{s}_block{i+1}`), its convolutions
and norms in order, and `proj_conv` / `proj_bn` correspond one to one.

Convolution weights go from OIHW to HWIO, `fc.weight` is transposed, and a
`BatchNorm2d`'s `weight`, `bias`, `running_mean`, `running_var` become
`gamma`, `beta`, `moving_mean`, `moving_variance` (`num_batches_tracked` is
not needed). The converted network equals torchvision's in inference mode
for the undilated ResNet (`output_stride=32`, ImageNet stem) on inputs
preprocessed as torchvision's (`tfmtl.data.imagenet_preprocessing`).
"""

import keras
import numpy as np

from tfmtl.models.backbones.resnet import ResNet
from tfmtl.models.heads.classifier_head import ClassifierHead

TORCHVISION_DEPTHS = {
    "resnet18": 18,
    "resnet34": 34,
    "resnet50": 50,
    "resnet101": 101,
    "resnet152": 152,
}


def _is_norm(layer):
    return hasattr(layer, "moving_mean") or hasattr(layer, "norms")


def _pairs(layers):
    convs = [x for x in layers if isinstance(x, keras.layers.Conv2D)]
    norms = [x for x in layers if _is_norm(x)]
    return convs, norms


def torchvision_layers(backbone):
    """`[(torchvision module name, our layer)]` of a built `ResNet`.

    Args:
        backbone: a `tfmtl.models.backbones.ResNet` with the ImageNet stem.

    Returns:
        List of pairs in torchvision's state-dict order; each layer is a
        `Conv2D` (or subclass) or a normalisation layer.
    """
    if getattr(backbone, "stem_type", None) != "imagenet":
        raise ValueError("torchvision ResNets need the 'imagenet' stem.")
    convs, norms = _pairs(backbone.stem.layers)
    out = [("conv1", convs[0]), ("bn1", norms[0])]
    start = 0
    for stage, end in enumerate(backbone.stage_ends):
        for index, block in enumerate(backbone.blocks[start : end + 1]):
            name = f"layer{stage + 1}.{index}"
            convs, norms = _pairs(block.residual_layers)
            for j, (conv, norm) in enumerate(zip(convs, norms)):
                out += [
                    (f"{name}.conv{j + 1}", conv),
                    (f"{name}.bn{j + 1}", norm),
                ]
            convs, norms = _pairs(block.shortcut_layers)
            if convs:
                out += [
                    (f"{name}.downsample.0", convs[0]),
                    (f"{name}.downsample.1", norms[0]),
                ]
        start = end + 1
    return out


def _take(state_dict, key, shape, used):
    if key not in state_dict:
        raise ValueError(f"The state dict has no {key!r}.")
    value = np.asarray(state_dict[key])
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{key!r} has shape {tuple(value.shape)}, expected {tuple(shape)}."
        )
    used.add(key)
    return value


def _assign_norm(layer, state_dict, name, used):
    targets = list(getattr(layer, "norms", [layer]))
    size = (int(targets[0].moving_mean.shape[0]),)
    values = [
        _take(state_dict, f"{name}.{suffix}", size, used)
        for suffix in ("weight", "bias", "running_mean", "running_var")
    ]
    used.add(f"{name}.num_batches_tracked")
    for norm in targets:
        variables = (norm.gamma, norm.beta, norm.moving_mean)
        for variable, value in zip((*variables, norm.moving_variance), values):
            if variable is not None:
                variable.assign(value.astype(np.float32))


def load_torchvision_resnet(backbone, state_dict, classifier=None, strict=True):
    """Assigns a torchvision ResNet state dict to a built `ResNet`.

    Args:
        backbone: built `ResNet` (ImageNet stem) of the same depth. Gated
            convolutions receive the weights in their base kernel, and a
            norm with per-task `norms` gets them in every task's norm.
        state_dict: `{name: array}` (e.g. from
            `tfmtl.models.checkpoint_files.read_checkpoint`), torchvision
            names (`conv1.weight`, `layer1.0.bn1.running_var`, `fc.bias`).
        classifier: optional built `keras.layers.Dense` receiving `fc`.
        strict: raise on state-dict entries that nothing used (ignoring
            `num_batches_tracked`, and `fc.*` when `classifier` is None).

    Raises:
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    used = set()
    for name, layer in torchvision_layers(backbone):
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer._kernel.shape
            value = _take(
                state_dict, f"{name}.weight", (cout, cin, kh, kw), used
            )
            layer._kernel.assign(value.transpose(2, 3, 1, 0).astype(np.float32))
        else:
            _assign_norm(layer, state_dict, name, used)
    if classifier is not None:
        cin, cout = classifier.kernel.shape
        value = _take(state_dict, "fc.weight", (cout, cin), used)
        classifier.kernel.assign(value.T.astype(np.float32))
        classifier.bias.assign(_take(state_dict, "fc.bias", (cout,), used))
    else:
        used.update({"fc.weight", "fc.bias"})
    unused = [
        k
        for k in state_dict
        if k not in used and not k.endswith("num_batches_tracked")
    ]
    if strict and unused:
        raise ValueError(
            f"The state dict has {len(unused)} entries the network does not "
            f"use, the first {unused[0]!r} (another architecture?)."
        )


def torchvision_resnet(arch, state_dict=None, num_classes=1000, **kwargs):
    """A Keras model equal to torchvision's `arch` (NHWC images -> logits).

    Args:
        arch: `"resnet18"`, `"resnet34"`, `"resnet50"`, `"resnet101"` or
            `"resnet152"`.
        state_dict: optional torchvision state dict to load (strictly).
        num_classes: outputs of the classifier (`fc`).
        **kwargs: further `ResNet` arguments (e.g. `conv=`).

    Returns:
        A built `keras.Model` taking float32 [B, H, W, 3] images, normalised
        as torchvision's (RGB, ImageNet mean / std), and returning logits.
    """
    if arch not in TORCHVISION_DEPTHS:
        raise ValueError(
            f"Unknown torchvision ResNet {arch!r}; one of "
            f"{', '.join(TORCHVISION_DEPTHS)}."
        )
    backbone = ResNet(TORCHVISION_DEPTHS[arch], output_stride=32, **kwargs)
    head = ClassifierHead(num_classes, name="fc")
    images = keras.Input((None, None, 3), name="images")
    model = keras.Model(images, head(backbone(images)), name=arch)
    if state_dict is not None:
        load_torchvision_resnet(backbone, state_dict, head.logits)
    return model
