"""Pretrained weights for `VGG16`: per-layer arrays keyed by VGG-16 names.

File formats read by `load_vgg16_weights` (nothing is downloaded):

* `.npz` or `.h5` (not `.weights.h5`): per-layer arrays keyed
  `"<layer>/<array>"` where `<layer>` is a standard VGG-16 layer name
  (`conv1_1` ... `conv5_3`, and `fc6`, `fc7` for DeepLab-LargeFOV) and
  `<array>` is `kernel` (HWIO: `[kh, kw, in, out]`, as Keras and TF-slim
  store it; a Caffe / PyTorch OIHW blob must be transposed by `(2, 3, 1,
  0)` first), `bias` (`[out]`) and, optionally, the batch-norm arrays
  `gamma`, `beta`, `moving_mean`, `moving_variance` (`[out]` each). In an
  `.h5` file the `/` makes a group per layer. `save_vgg16_weights` writes
  this format. Every kernel and bias is required (unless
  `allow_missing=True`); absent batch-norm arrays keep their initial
  values (DeepLab's VGG-16 has no batch norm: NDDR-CNN restores the
  convolutions and leaves beta / gamma at their init).
* `.keras`: a model saved by `tfmtl` (e.g. the `.keras` export of a
  single-task run, or of NDDR / MTL-NAS); the `index`-th `VGG16` inside it
  (in layer order) is read.

Keras `.weights.h5` files are refused: their layout follows the saving
model's structure, not VGG-16's layer names (use the `.keras` file, or
`save_vgg16_weights`).

DeepLab-LargeFOV's fc6 is `[3, 3, 512, 1024]` and fc7 `[1, 1, 1024, 1024]`
(the subsampled ImageNet fc6/fc7); an ImageNet VGG-16's `[7, 7, 512,
4096]` fc6 does not fit and is reported as a shape mismatch.
"""

import os

import keras
import numpy as np

ARRAYS = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
_NORM_ARRAYS = ARRAYS[2:]


def vgg16_units(backbone):
    """Maps each VGG-16 layer name to its `(conv, norm)` layers."""
    units = {}
    for block in backbone.blocks:
        for layer in block.layers:
            name = layer.name
            if name.endswith("_conv"):
                units.setdefault(name[: -len("_conv")], [None, None])[0] = layer
            elif name.endswith("_bn"):
                units.setdefault(name[: -len("_bn")], [None, None])[1] = layer
    return {k: tuple(v) for k, v in units.items()}


def vgg16_arrays(backbone):
    """The arrays of a built `VGG16`, keyed `"<layer>/<array>"`."""
    arrays = {}
    for name, (conv, norm) in vgg16_units(backbone).items():
        arrays[f"{name}/kernel"] = np.asarray(conv.kernel)
        if conv.use_bias:
            arrays[f"{name}/bias"] = np.asarray(conv.bias)
        if norm is not None:
            for key, variable in zip(_NORM_ARRAYS, _norm_variables(norm)):
                arrays[f"{name}/{key}"] = np.asarray(variable)
    return arrays


def _norm_variables(norm):
    return (norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance)


def save_vgg16_weights(backbone, path):
    """Writes a built `VGG16`'s arrays to `path` (`.npz` or `.h5`)."""
    arrays = vgg16_arrays(backbone)
    if path.endswith(".npz"):
        np.savez(path, **arrays)
        return
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key] = value


def _read_arrays(path, index):
    if path.endswith(".npz"):
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    if path.endswith(".keras"):
        from tfmtl.models.backbones.vgg16 import VGG16

        model = keras.saving.load_model(path, compile=False)
        found = [
            layer
            for layer in model._flatten_layers(include_self=True)
            if isinstance(layer, VGG16)
        ]
        if len(found) <= index:
            raise ValueError(
                f"{path} holds {len(found)} VGG16 backbone(s); index {index} "
                "was requested."
            )
        return vgg16_arrays(found[index])
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda key, item: (
                arrays.__setitem__(key, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return arrays


def load_vgg16_weights(
    backbone, path, channel_order="rgb", allow_missing=False, index=0
):
    """Assigns pretrained arrays from `path` to a built `VGG16`.

    Args:
        backbone: a built `VGG16`.
        path: the weights file (formats: see the module docstring).
        channel_order: input channel order the file's `conv1_1` expects;
            `"bgr"` (Caffe / DeepLab conversions) reverses its input axis so
            the backbone takes the pipeline's RGB images (pair it with
            `VGG16(preprocessing="caffe")` for Caffe's 0-255 mean-subtracted
            input).
        allow_missing: keep the current values of kernels and biases
            absent from the file instead of raising (batch-norm arrays are
            always optional).
        index: which `VGG16` of a `.keras` file (in layer order).

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: on a shape mismatch, an unknown or missing key, or a
            `.weights.h5` file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"VGG-16 weights file {path} not found (expected .npz / .h5 "
            "arrays keyed '<layer>/<array>' or a .keras model; see "
            "tfmtl/models/backbones/vgg16_weights.py)."
        )
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(
            f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}."
        )
    if path.endswith(".weights.h5"):
        raise ValueError(
            f"{path}: Keras .weights.h5 files are not read (their layout "
            "follows the saving model); pass the .keras file or a file "
            "written by save_vgg16_weights."
        )
    arrays = _read_arrays(path, index)
    units = vgg16_units(backbone)
    unknown = sorted(
        k
        for k in arrays
        if k.split("/")[0] not in units or k.split("/")[-1] not in ARRAYS
    )
    if unknown:
        raise ValueError(
            f"{path}: unknown keys {unknown[:5]}; expected '<layer>/<array>' "
            f"with layers {sorted(units)} and arrays {list(ARRAYS)}."
        )
    assignments, missing = [], []
    for name, (conv, norm) in units.items():
        targets = [("kernel", conv.kernel, True)]
        if conv.use_bias:
            targets.append(("bias", conv.bias, True))
        if norm is not None:
            targets += [
                (key, variable, False)
                for key, variable in zip(_NORM_ARRAYS, _norm_variables(norm))
            ]
        for key, variable, required in targets:
            full = f"{name}/{key}"
            if full not in arrays:
                if required:
                    missing.append(full)
                continue
            value = np.asarray(arrays[full])
            if key == "kernel" and name == "conv1_1" and channel_order == "bgr":
                value = value[:, :, ::-1, :]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{path}: {full} has shape {tuple(value.shape)}, the "
                    f"backbone expects {tuple(variable.shape)}."
                )
            assignments.append((variable, value))
    if missing and not allow_missing:
        raise ValueError(
            f"{path} lacks {len(missing)} arrays, e.g. {missing[:4]} (pass "
            "allow_missing=True to keep their current values)."
        )
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
