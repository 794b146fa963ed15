"""Rebuilds a backbone with TAPS convolutions (and per-task norms)."""

import keras

from tfmtl.methods.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.methods.taps.taps_conv2d import TAPSConv2D
from tfmtl.methods.taps.taps_dense import TAPSDense
from tfmtl.models.backbones import builders

_GATED = (TAPSConv2D, TAPSDense)


def _is_subclass(cls, parents):
    return isinstance(cls, type) and issubclass(cls, parents)


def taps_backbone(backbone, task_norm=True):
    """Returns `backbone` rebuilt with TAPS convolutions (and norms).

    A backbone whose `conv` is already a TAPS class is returned unchanged;
    otherwise a new one is made from its config with `conv` set to
    `TAPSConv2D`, `dense` (when the backbone has that slot) to `TAPSDense`
    and, with `task_norm`, `norm` to `TAPSBatchNormalization`.
    """
    if _is_subclass(getattr(backbone, "conv", None), _GATED):
        return backbone
    config = backbone.get_config()
    if "conv" not in config:
        raise ValueError(
            f"{type(backbone).__name__} has no `conv` argument; TAPS needs a "
            "backbone whose convolution class can be swapped."
        )
    config["conv"] = builders.layer_class_name(TAPSConv2D)
    if "dense" in config:
        # Backbones with a dense slot (transformer-style) gate it too.
        config["dense"] = builders.layer_class_name(TAPSDense)
    norm = config.get("norm")
    norm = norm and builders.resolve_layer_class(norm)
    if task_norm and _is_subclass(norm, keras.layers.BatchNormalization):
        config["norm"] = builders.layer_class_name(TAPSBatchNormalization)
    return type(backbone).from_config(config)
