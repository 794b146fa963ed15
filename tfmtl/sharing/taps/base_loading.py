"""Loads a pretrained base into a TAPS backbone (never downloads anything).

A base is a backbone of the same architecture with plain `Conv2D` /
`BatchNormalization` layers, taken from

* a `.keras` file: a `MultiTaskModel` exported by `tfmtl.train --mode=export`
  (its `sharing.backbone` is used) or a saved backbone layer;
* a `tfmtl.train` checkpoint (a prefix such as `<model_dir>/ckpt-500`, or a
  model directory for its latest checkpoint): the checkpoint stores the
  model's variables as an ordered list (`state/model/<i>`) whose first
  entries are the backbone's under hard sharing, so a plain clone of the
  backbone is filled from that prefix of the list, shape-checked.

Base kernels go into every gated layer's `kernel`; base normalisation
parameters and statistics go into every task's normalisation.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfmtl.sharing.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.sharing.taps.taps_conv2d import TAPSConv2D
from tfmtl.sharing.taps.taps_dense import TAPSDense

_GATED = (TAPSConv2D, TAPSDense)


class BaseNotFoundError(FileNotFoundError):
    """Raised when the pretrained base file or checkpoint does not exist."""


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
    src, dst = _kernel_layers(source), _kernel_layers(target)
    if len(src) != len(dst):
        raise ValueError(
            f"The base has {len(src)} convolution/dense layers but the TAPS "
            f"backbone has {len(dst)}; use the base's architecture."
        )
    for a, b in zip(src, dst):
        if tuple(a._kernel.shape) != tuple(b._kernel.shape):
            raise ValueError(
                f"Base layer {a.path} has kernel {tuple(a._kernel.shape)}; "
                f"{b.path} needs {tuple(b._kernel.shape)}."
            )
        b._kernel.assign(a._kernel)
        if a.use_bias and b.use_bias:
            b.bias.assign(a.bias)
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


def load_keras(path):
    """`keras.saving.load_model` with every tfmtl class registered."""
    import tfmtl.models.backbones  # noqa: F401  (registers classes)
    import tfmtl.models.heads  # noqa: F401
    import tfmtl.models.multitask_model  # noqa: F401
    import tfmtl.sharing  # noqa: F401
    import tfmtl.sharing.taps  # noqa: F401

    if not tf.io.gfile.exists(path):
        raise BaseNotFoundError(f"No such Keras file: {path}.")
    return keras.saving.load_model(path, compile=False)


def _resolve_checkpoint(path):
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise BaseNotFoundError(
                f"TAPS base: no checkpoint in {path}; train a base with "
                "`python -m tfmtl.train` or point at a `.keras` export."
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise BaseNotFoundError(
            f"TAPS base not found: {path} (expected a `.keras` file, a "
            "checkpoint prefix such as <model_dir>/ckpt-500, or a model "
            "directory)."
        )
    return path


def _source_backbone(loaded):
    if hasattr(loaded, "sharing") and hasattr(loaded.sharing, "backbone"):
        return loaded.sharing.backbone
    if hasattr(loaded, "backbone"):
        return loaded.backbone
    return loaded


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
    if path.endswith(".keras"):
        if not tf.io.gfile.exists(path):
            raise BaseNotFoundError(f"TAPS base not found: {path}.")
        loaded = load_keras(path)
        copy_base(_source_backbone(loaded), backbone)
        return
    prefix = _resolve_checkpoint(path)
    clone = plain_clone(backbone)
    clone.build(input_shape)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    for i, variable in enumerate(clone.weights):
        key = f"state/model/{i}/.ATTRIBUTES/VARIABLE_VALUE"
        if key not in shapes:
            raise ValueError(
                f"Checkpoint {prefix} holds fewer model variables than the "
                f"base backbone needs ({len(clone.weights)})."
            )
        if tuple(shapes[key]) != tuple(variable.shape):
            raise ValueError(
                f"Checkpoint {prefix}: variable {i} has shape "
                f"{tuple(shapes[key])} but {variable.path} needs "
                f"{tuple(variable.shape)}; the base was trained with another "
                "backbone (or not with hard sharing)."
            )
        variable.assign(reader.get_tensor(key))
    copy_base(clone, backbone)
