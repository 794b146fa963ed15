"""Loads a pretrained base into a TAPS backbone (never downloads anything).

A base is a backbone of the same architecture with plain `Conv2D` /
`BatchNormalization` layers, taken from

* a `.keras` file: a `MultiTaskModel` exported by `tfmtl.train --mode=export`
  (its `sharing.backbone` is used) or a saved backbone layer;
* Keras-applications ResNet-50 weights on disk: a `.keras` file of
  `keras.applications.ResNet50` or its `.h5` weights file (see
  `copy_keras_application`);
* a `tfmtl.train` checkpoint (a prefix such as `<model_dir>/ckpt-500`, or a
  model directory for its latest checkpoint): the checkpoint keys the
  model's variables by path, so a plain clone of the backbone is filled
  from the scope holding its paths (the backbone under hard sharing),
  shape-checked.

Base kernels go into every gated layer's `kernel`; base normalisation
parameters and statistics go into every task's normalisation. Reading
files and checkpoints is `tfmtl.models.weights`.
"""

import os

import keras
import numpy as np

from tfmtl.methods.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.methods.taps.taps_conv2d import TAPSConv2D
from tfmtl.methods.taps.taps_dense import TAPSDense
from tfmtl.models import weights
from tfmtl.models.weights import copy_kernels, load_keras  # noqa: F401

_GATED = (TAPSConv2D, TAPSDense)

# The generic error of `tfmtl.models.weights`, under its TAPS name.
BaseNotFoundError = weights.WeightsNotFoundError


def plain_clone(backbone):
    """A fresh backbone like `backbone` with plain conv / norm layers."""
    config = backbone.get_config()
    if "conv" not in config:
        raise ValueError(
            f"{type(backbone).__name__} has no `conv` argument; TAPS needs a "
            "backbone whose convolution class can be swapped."
        )
    config = dict(config, conv="Conv2D")
    if "norm" in config:
        config["norm"] = "BatchNormalization"
    if "dense" in config:
        config["dense"] = "Dense"
    return type(backbone).from_config(config)


def _gated_layers(layer):
    return [
        x
        for x in layer._flatten_layers(include_self=False, recursive=True)
        if isinstance(x, _GATED)
    ]


def _kernel_layers(layer):
    """Convolution / dense layers of `layer`, in construction order."""
    kinds = (keras.layers.Conv2D, keras.layers.Dense)
    return [
        x
        for x in layer._flatten_layers(include_self=False, recursive=True)
        if isinstance(x, kinds)
    ]


def _norm_layers(layer):
    """Top-level normalisation layers (per-task ones count once)."""
    out, inner = [], set()
    for x in layer._flatten_layers(include_self=False, recursive=True):
        if isinstance(x, TAPSBatchNormalization):
            out.append(x)
            inner.update(id(n) for n in x.norms)
        elif (
            isinstance(x, keras.layers.BatchNormalization)
            and id(x) not in inner
        ):
            out.append(x)
    return out


def _norm_values(layer, task=0):
    if isinstance(layer, TAPSBatchNormalization):
        layer = layer.norms[task]
    return [np.asarray(v) for v in layer.weights]


def copy_base(source, target):
    """Copies kernels and normalisation of `source` into TAPS `target`.

    Args:
        source: a built backbone (plain, or TAPS: its base kernels and first
            task's normalisation are used).
        target: the built TAPS backbone of the same architecture.

    Raises:
        ValueError: when the layers do not correspond.
    """
    copy_kernels(
        _kernel_layers(source),
        _kernel_layers(target),
        "The base",
        "use the base's architecture",
    )
    src, dst = _norm_layers(source), _norm_layers(target)
    if len(src) != len(dst):
        raise ValueError(
            f"The base has {len(src)} normalisation layers but the TAPS "
            f"backbone has {len(dst)}."
        )
    for a, b in zip(src, dst):
        values = _norm_values(a)
        norms = b.norms if isinstance(b, TAPSBatchNormalization) else [b]
        for norm in norms:
            for variable, value in zip(norm.weights, values):
                variable.assign(value)


def _keras_application_name(layer, block=None):
    """The Keras-applications ResNet name of one of our conv / norm layers."""
    kind = "conv" if isinstance(layer, keras.layers.Conv2D) else "bn"
    if block is None:
        return f"conv1_{kind}"
    stage, index = block.name.removeprefix("stage").split("_block")
    position = "0" if layer.name.startswith("proj") else layer.name[-1]
    return f"conv{int(stage) + 1}_block{index}_{position}_{kind}"


def copy_keras_application(source, target):
    """Copies a Keras-applications ResNet (v1) into TAPS ResNet `target`.

    Layers are matched by name (`conv3_block2_1_conv` is stage 2, block 2,
    first convolution; `_0_` is the projection). The applications'
    convolution biases are folded into the following batch norm's moving
    mean (exact in inference mode; batch statistics cancel them anyway).
    """
    # compat: Keras applications ResNets stride the first 1x1 convolution of
    # a bottleneck (v1) and expect caffe-preprocessed inputs; our ResNet
    # strides the 3x3 convolution (v1.5) and reads images in [0, 1], so the
    # weights are a starting point, not an exact copy of that network.
    by_name = {layer.name: layer for layer in source.layers}
    pairs = [(x, None) for x in target.stem.layers]
    for block in target.blocks:
        pairs += [(x, block) for x in block.residual_layers]
        pairs += [(x, block) for x in block.shortcut_layers]
    biases = {}
    for layer, block in pairs:
        if isinstance(layer, keras.layers.Conv2D):
            name = _keras_application_name(layer, block)
            if name not in by_name:
                raise ValueError(f"The Keras model has no layer {name!r}.")
            src = by_name[name]
            if tuple(src.kernel.shape) != tuple(layer._kernel.shape):
                raise ValueError(
                    f"{name} has kernel {tuple(src.kernel.shape)}; "
                    f"{layer.path} needs {tuple(layer._kernel.shape)}."
                )
            layer._kernel.assign(src.kernel)
            if src.use_bias:
                biases[name[: -len("conv")]] = np.asarray(src.bias)
        elif isinstance(
            layer, TAPSBatchNormalization | keras.layers.BatchNormalization
        ):
            name = _keras_application_name(layer, block)
            gamma, beta, mean, variance = _norm_values(by_name[name])
            mean = mean - biases.get(name[: -len("bn")], 0.0)
            norms = (
                layer.norms
                if isinstance(layer, TAPSBatchNormalization)
                else [layer]
            )
            for norm in norms:
                for variable, value in zip(
                    norm.weights, (gamma, beta, mean, variance)
                ):
                    variable.assign(value)


def _is_keras_application(loaded):
    names = {layer.name for layer in getattr(loaded, "layers", [])}
    return "conv1_conv" in names and "conv2_block1_1_conv" in names


def load_base(backbone, path, input_shape):
    """Fills TAPS `backbone` (built) with the base stored at `path`.

    Args:
        backbone: the built TAPS backbone.
        path: a `.keras` file, a `tfmtl.train` checkpoint prefix or a model
            directory (its latest checkpoint).
        input_shape: the input shape the backbone was built with.

    Raises:
        BaseNotFoundError: when `path` does not exist.
        ValueError: when the base does not match the backbone.
    """
    path = os.fspath(path)
    from tfmtl.methods.taps import torch_base  # torchvision state dicts

    if torch_base.is_torchvision_file(path):
        weights.check_file(path, "TAPS base")
        return torch_base.load_torchvision_base(backbone, path)
    if path.endswith(".keras"):
        loaded = load_keras(weights.check_file(path, "TAPS base"))
        if _is_keras_application(loaded):
            copy_keras_application(loaded, backbone)
        else:
            copy_base(weights.backbone_of(loaded), backbone)
        return
    if path.endswith(".h5"):
        # Keras-applications weights on disk (e.g. the file Keras downloads
        # as resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5).
        weights.check_file(path, "TAPS base")
        depth = getattr(backbone, "depth", None)
        if depth != 50:
            raise ValueError(
                "Keras-applications weights (.h5) load into ResNet-50 only."
            )
        application = keras.applications.ResNet50(
            weights=path,
            include_top="notop" not in os.path.basename(path),
        )
        copy_keras_application(application, backbone)
        return
    prefix = weights.resolve_checkpoint(path, "TAPS base", "train a base with")
    clone = plain_clone(backbone)
    clone.build(input_shape)
    weights.restore_model_variables(
        clone,
        prefix,
        needs="the base backbone needs",
        mismatch="the base was trained with another backbone (or not with "
        "hard sharing).",
    )
    copy_base(clone, backbone)
