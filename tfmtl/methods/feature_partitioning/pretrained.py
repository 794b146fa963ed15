"""Loads a trained trunk into a `PartitionedResNet` (never downloads).

The reference starts every partitioned network, teacher and distillation
student from an ImageNet-trained single-task trunk (`imagenet_pretrained`,
copying that network's BatchNorm into every task's BatchNorm). Here the
trunk comes from a local file:

* a `.keras` file: a `MultiTaskModel` over `FeaturePartitioning` exported by
  `tfmtl.train --mode=export` (its `sharing.backbone`), or a saved
  `FeaturePartitioning` / `PartitionedResNet`;
* a `tfmtl.train` checkpoint of a feature-partitioning run: a prefix such
  as `<model_dir>/ckpt-500`, or a model directory for its latest
  checkpoint. The checkpoint keys the model's variables by path, so a
  clone of the trunk with the source run's number of tasks is filled from
  the scope holding its paths, every shape checked.

Convolution kernels are copied as they are (masks are not: they come from
the target's own partition); the normalisation (scale, offset and moving
statistics) of source task `source_task` goes into every task of the
target.
"""

import os

import numpy as np

from tfmtl.models import weights
from tfmtl.models.weights import copy_kernels, load_keras

# The generic error of `tfmtl.models.weights`, under its historical name.
BaseNotFoundError = weights.WeightsNotFoundError

__all__ = ["BaseNotFoundError", "check_trunk_path", "copy_trunk", "load_trunk"]


def _convs(trunk):
    convs = [trunk.stem_conv]
    for block in trunk.blocks:
        convs += [block.conv1, block.conv2]
    return convs


def copy_trunk(source, target, source_task=0):
    """Copies kernels and task `source_task`'s norms of `source` to `target`.

    Args:
        source: a built `PartitionedResNet` (any number of tasks).
        target: the built `PartitionedResNet` to fill.
        source_task: the source task whose normalisation every target task
            receives.

    Raises:
        ValueError: when the two trunks do not have the same architecture.
    """
    copy_kernels(
        _convs(source),
        _convs(target),
        "The pretrained trunk",
        "use the same widths and blocks_per_stage",
    )
    if not 0 <= source_task < source.num_tasks:
        raise ValueError(
            f"source_task {source_task} is not a task of the pretrained "
            f"trunk ({source.num_tasks} tasks)."
        )
    for a, b in zip(source.task_norms(), target.task_norms()):
        values = [np.asarray(v) for v in a.norms[source_task].weights]
        for norm in b.norms:
            for variable, value in zip(norm.weights, values):
                variable.assign(value)


def _trunk_of(loaded, path):
    from tfmtl.methods.feature_partitioning.partitioned_resnet import (
        PartitionedResNet,
    )

    trunk = weights.backbone_of(loaded, PartitionedResNet)
    if trunk is not None:
        return trunk
    raise ValueError(
        f"{path} holds a {type(loaded).__name__} without a feature-"
        "partitioning trunk (PartitionedResNet); export a "
        "FeaturePartitioning run with `tfmtl.train --mode=export`."
    )


def _from_checkpoint(target, prefix, source_tasks, input_shape):
    from tfmtl.methods.feature_partitioning.partitioned_resnet import (
        PartitionedResNet,
    )

    # Masks are not copied: a clone masked in the last stage only reads a
    # subset of the variables of any run, frozen prefix (unmasked) or not.
    config = dict(
        target.get_config(), num_tasks=source_tasks, freeze_prefix=True
    )
    config.pop("name", None)
    clone = PartitionedResNet.from_config(config)
    clone.build(input_shape)
    weights.restore_model_variables(
        clone,
        prefix,
        needs="a trunk needs",
        missing="; it is not a feature-partitioning run with this architecture",
        mismatch="the run used another trunk (widths, blocks_per_stage) or "
        f"not {source_tasks} task(s) (set pretrained_tasks).",
    )
    return clone


def check_trunk_path(path):
    """Raises BaseNotFoundError unless `path` names a stored trunk."""
    path = os.fspath(path)
    if path.endswith(".keras"):
        return weights.check_file(path, "Pretrained trunk")
    return weights.resolve_checkpoint(
        path,
        "Pretrained trunk",
        "train one (e.g. single_task.gin) with",
    )


def load_trunk(target, path, input_shape, source_tasks=1, source_task=0):
    """Fills the built `PartitionedResNet` `target` from `path`.

    Args:
        target: the built trunk.
        path: a `.keras` file, a `tfmtl.train` checkpoint prefix or a model
            directory (its latest checkpoint).
        input_shape: the shape `target` was built with.
        source_tasks: number of tasks of the run a checkpoint comes from
            (a `.keras` file knows its own).
        source_task: the source task whose norms every task receives.

    Raises:
        BaseNotFoundError: when `path` does not exist (a FileNotFoundError).
        ValueError: when the stored trunk does not match `target`.
    """
    path = check_trunk_path(path)
    if path.endswith(".keras"):
        source = _trunk_of(load_keras(path), path)
    else:
        source = _from_checkpoint(target, path, source_tasks, input_shape)
    copy_trunk(source, target, source_task)
