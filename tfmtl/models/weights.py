"""Method-neutral loading of stored weights (never downloads anything).

Weights come from a local `.keras` file (a `MultiTaskModel` exported by
`tfmtl.train --mode=export`, or a saved layer) or from a `tfmtl.train`
checkpoint: a prefix such as `<model_dir>/ckpt-500`, or a model directory
for its latest checkpoint. The checkpoint keys the model's variables by
path (`tfmtl.trainers.checkpointing`), so a layer is filled from the scope
of the checkpoint holding all of its variable paths, every shape checked.

Methods build on these helpers: `tfmtl.methods.taps.base_loading` (a
pretrained base for TAPS) and `tfmtl.methods.feature_partitioning.pretrained`
(a pretrained trunk).
"""

import os

import keras
import tensorflow as tf

from tfmtl.trainers import checkpointing


class WeightsNotFoundError(FileNotFoundError):
    """Raised when a weights file or checkpoint does not exist."""


def copy_kernels(src, dst, what, advice):
    """Copies kernels (and biases) between corresponding layers.

    Args:
        src: convolution / dense layers to read, in order.
        dst: the layers to fill, in the same order (for gated layers the
            stored `_kernel` is the base kernel).
        what: how error messages name the source (e.g. "The base").
        advice: what the user should do when the layers do not match.

    Raises:
        ValueError: different layer counts or kernel shapes.
    """
    if len(src) != len(dst):
        raise ValueError(
            f"{what} has {len(src)} convolution/dense layers, this network "
            f"{len(dst)}; {advice}."
        )
    for a, b in zip(src, dst):
        if tuple(a._kernel.shape) != tuple(b._kernel.shape):
            raise ValueError(
                f"{what}: {a.path} has kernel {tuple(a._kernel.shape)}, "
                f"{b.path} needs {tuple(b._kernel.shape)}; {advice}."
            )
        b._kernel.assign(a._kernel)
        if a.use_bias and b.use_bias:
            b.bias.assign(a.bias)


def check_file(path, what):
    """Returns `path`; raises WeightsNotFoundError when the file is absent.

    Args:
        path: the file (e.g. a `.keras` file).
        what: how the error names it (e.g. "TAPS base").
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise WeightsNotFoundError(f"{what} not found: {path}.")
    return path


def load_keras(path):
    """`keras.saving.load_model` with the models' and sharings' classes
    registered (a method's classes are registered by importing its package,
    which its loaders do).

    Raises:
        WeightsNotFoundError: no such file.
    """
    import tfmtl.models.backbones  # noqa: F401  (registers classes)
    import tfmtl.models.heads  # noqa: F401
    import tfmtl.models.multitask_model  # noqa: F401
    import tfmtl.sharing  # noqa: F401

    if not tf.io.gfile.exists(path):
        raise WeightsNotFoundError(f"No such Keras file: {path}.")
    return keras.saving.load_model(path, compile=False)


def backbone_of(loaded, kind=None):
    """The backbone held by a loaded model, sharing module or backbone.

    Args:
        loaded: what `load_keras` returned.
        kind: a class; only an instance of it is returned (None: the first
            of `loaded.sharing.backbone`, `loaded.backbone`, `loaded`).

    Returns:
        The backbone, or None when none is of `kind`.
    """
    candidates = [
        getattr(getattr(loaded, "sharing", None), "backbone", None),
        getattr(loaded, "backbone", None),
        loaded,
    ]
    for candidate in candidates:
        if candidate is None:
            continue
        if kind is None or isinstance(candidate, kind):
            return candidate
    return None


def resolve_checkpoint(path, what, hint):
    """The checkpoint prefix behind `path` (a prefix or a model directory).

    Args:
        path: `<model_dir>/ckpt-N` or a model directory (its latest
            checkpoint).
        what: how error messages name the thing being loaded.
        hint: how to make one, completed by "`python -m tfmtl.train`".

    Raises:
        WeightsNotFoundError: no such checkpoint.
    """
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise WeightsNotFoundError(
                f"{what}: no checkpoint in {path}; {hint} "
                "`python -m tfmtl.train` or point at a `.keras` export."
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise WeightsNotFoundError(
            f"{what} not found: {path} (expected a `.keras` file, a "
            "checkpoint prefix such as <model_dir>/ckpt-500, or a model "
            "directory)."
        )
    return path


def restore_model_variables(model, prefix, needs, mismatch, missing=""):
    """Assigns the model variables of a `tfmtl.train` checkpoint, by path.

    The run's checkpoint keys model variables by path
    (`tfmtl.trainers.checkpointing`); `model` (e.g. a clone of the run's
    backbone) is matched to the scope of the checkpoint holding all of its
    variable paths, and each variable gets the value stored at its path.

    Args:
        model: a built layer whose `weights` receive the values.
        prefix: checkpoint prefix (see `resolve_checkpoint`).
        needs: what the caller builds, for the error when the checkpoint
            does not hold its variables (e.g. "the base backbone needs").
        mismatch: advice ending the error on a shape mismatch.
        missing: advice appended to the error on missing variables.

    Raises:
        ValueError: if a variable is missing or has another shape.
    """
    keys = checkpointing.variable_keys(model)
    shapes = checkpointing.model_variable_shapes(prefix)
    scope = checkpointing.find_scope(shapes, model)
    if scope is None:
        raise ValueError(
            f"Checkpoint {prefix} does not hold the model variables "
            f"{needs} ({len(keys)}){missing}."
        )
    values = checkpointing.read_model_variables(prefix, scope)
    for key, variable in keys.items():
        if key not in values:
            raise ValueError(
                f"Checkpoint {prefix} has no variable {scope}/{key}, which "
                f"{needs}; {mismatch}"
            )
        if values[key].shape != tuple(variable.shape):
            raise ValueError(
                f"Checkpoint {prefix}: variable {scope}/{key} has shape "
                f"{values[key].shape} but {variable.path} needs "
                f"{tuple(variable.shape)}; {mismatch}"
            )
        variable.assign(values[key])
