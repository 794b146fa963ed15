"""Checkpoint files of other frameworks read into `{name: numpy array}`.

`read_checkpoint(path)` reads, without torch and without running code from
the file:

* `.pth` / `.pt` / `.pth.tar` / `.ckpt`: PyTorch `torch.save` files, zip or
  legacy format (`torch_file`), through a restricted unpickler;
* `.safetensors` (`safetensors_file`);
* `.npz` (numpy).

`write_checkpoint(path, arrays)` writes the same formats (`.pth` as
`torch.save` does, `torch_writer`).

Paths may be local or `gs://` (read with `tf.io.gfile`). Nested dicts are
flattened with `.` (a checkpoint `{"state_dict": {"conv1.weight": w}}`
gives `"state_dict.conv1.weight"`); `key` selects a sub-dict first.
"""

import io
import os

import numpy as np

from tfmtl.models.checkpoint_files.restricted_unpickler import (
    UnsupportedPickleError,
)
from tfmtl.models.checkpoint_files.safetensors_file import (
    read_safetensors,
    safetensors_bytes,
)
from tfmtl.models.checkpoint_files.torch_file import load_torch
from tfmtl.models.checkpoint_files.torch_writer import torch_bytes

TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar", ".ckpt", ".bin")
SUFFIXES = (*TORCH_SUFFIXES, ".safetensors", ".npz")


def is_checkpoint_file(path):
    """Whether `path` names a file `read_checkpoint` reads (by suffix)."""
    return os.fspath(path).lower().endswith(SUFFIXES)


def _read_bytes(path):
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"No such checkpoint file: {path}.")
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def flatten(obj, prefix=""):
    """`{dotted.name: array}` of the numpy arrays in nested dicts / lists."""
    out = {}
    if isinstance(obj, np.ndarray):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


def read_checkpoint(path, key=None):
    """Reads a checkpoint file into `{name: numpy array}`.

    Args:
        path: `.pth` / `.pt` / `.pth.tar` / `.ckpt` / `.bin` (PyTorch),
            `.safetensors` or `.npz`; local or `gs://`.
        key: optional entry to descend into first (e.g. `"state_dict"`);
            dots descend further (`"model.backbone"`).

    Returns:
        Dict from name to numpy array.

    Raises:
        FileNotFoundError: no such file.
        UnsupportedPickleError: a PyTorch pickle names a disallowed global.
        ValueError: unknown suffix, unreadable file or missing `key`.
    """
    path = os.fspath(path)
    lower = path.lower()
    if not lower.endswith(SUFFIXES):
        raise ValueError(
            f"Unknown checkpoint format: {path} (expected one of "
            f"{', '.join(SUFFIXES)})."
        )
    data = _read_bytes(path)
    if lower.endswith(".safetensors"):
        obj = read_safetensors(data)
    elif lower.endswith(".npz"):
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            obj = {k: arrays[k] for k in arrays.files}
    else:
        obj = load_torch(data)
    for part in key.split(".") if key else ():
        if not isinstance(obj, dict) or part not in obj:
            raise ValueError(f"{path} has no entry {key!r}.")
        obj = obj[part]
    return flatten(obj)


def write_checkpoint(path, arrays):
    """Writes `{name: array}` as `.pth` / `.pt` (a `torch.save` zip file),
    `.safetensors` or `.npz`, by `path`'s suffix (local or `gs://`)."""
    import tensorflow as tf

    path = os.fspath(path)
    lower = path.lower()
    if lower.endswith((".pth", ".pt")):
        data = torch_bytes(arrays)
    elif lower.endswith(".safetensors"):
        data = safetensors_bytes(arrays)
    elif lower.endswith(".npz"):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
    else:
        raise ValueError(
            f"Cannot write {path}: use .pth, .pt, .safetensors or .npz."
        )
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)
    return path


__all__ = [
    "SUFFIXES",
    "UnsupportedPickleError",
    "flatten",
    "is_checkpoint_file",
    "load_torch",
    "read_checkpoint",
    "read_safetensors",
    "safetensors_bytes",
    "torch_bytes",
    "write_checkpoint",
]
