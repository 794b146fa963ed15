"""Saving, drawing and costing AdaShare policies."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

_CELL = 16


def policy_image(values):
    """Draws a tasks x blocks grid: dark = executed, white = skipped.

    Args:
        values: array [T, L] in [0, 1], p(execute) or a hard 0/1 policy.

    Returns:
        float32 array [T * 16 + 1, L * 16 + 1, 3] in [0, 1] with grid lines.
    """
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    cells = np.kron(1.0 - values, np.ones((_CELL, _CELL), np.float32))
    rows, cols = cells.shape
    image = np.ones((rows + 1, cols + 1), np.float32) * 0.5
    image[:rows, :cols] = cells
    image[::_CELL, :] = 0.5
    image[:, ::_CELL] = 0.5
    # Executed cells in blue, skipped in white.
    rgb = np.stack([image, image, np.maximum(image, 0.6)], axis=-1)
    return rgb


def write_png(path, image):
    """Writes a float [H, W, 3] image in [0, 1] as PNG (any tf.io path)."""
    data = tf.image.encode_png(
        tf.cast(tf.round(np.asarray(image) * 255.0), tf.uint8)
    )
    tf.io.gfile.makedirs(os.path.dirname(path))
    tf.io.write_file(path, data)


def write_json(path, payload):
    """Writes a JSON file (any tf.io path)."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(payload, f, indent=1)


def read_json(path):
    """Reads a JSON file (any tf.io path)."""
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _conv_macs(layers, shape):
    """Multiply-accumulates of the Conv2D layers of a sequential list."""
    macs = 0
    for layer in layers:
        out = tuple(layer.compute_output_shape(shape))
        if isinstance(layer, keras.layers.Conv2D):
            kernel = layer.kernel.shape
            macs += int(np.prod(out[1:3])) * int(np.prod(kernel))
        shape = out
    return macs, shape


def _count(layers):
    return int(sum(np.prod(v.shape) for layer in layers for v in layer.weights))


def path_costs(model, image_shape, policy=None):
    """Parameters and multiply-accumulates of each task's path.

    Counts every weight the task's forward pass reads (trunk blocks it
    executes, projections of blocks it skips, its head; batch-norm moving
    statistics included, as the reference `count_params`). MACs count the
    convolutions (the head's at the feature resolution, stride 1).

    Args:
        model: a built `MultiTaskModel` whose sharing is `AdaShare`.
        image_shape: `(H, W, 3)` of one input image.
        policy: `{task: 0/1 per block}`; default the sharing's fixed policy,
            or every block executed.

    Returns:
        `{task: {"params": int, "macs": int, "executed_blocks": int}}` and,
        under "total", the parameters of the whole model.
    """
    sharing = model.sharing
    backbone = sharing.backbone
    policy = policy or sharing.policy
    shape = (1, *image_shape)
    stem_macs, stem_shape = _conv_macs(backbone.stem.layers, shape)
    costs = {}
    for task in model.task_names:
        decisions = policy[task] if policy else [1] * sharing.num_blocks
        params = _count([backbone.stem])
        macs, x_shape = stem_macs, stem_shape
        for block, run in zip(backbone.blocks, decisions):
            sc_macs, out_shape = _conv_macs(block.shortcut_layers, x_shape)
            params += _count(block.shortcut_layers)
            macs += sc_macs
            if run:
                res_macs, out_shape = _conv_macs(block.residual_layers, x_shape)
                params += _count(block.residual_layers)
                macs += res_macs
            x_shape = out_shape
        head = model.heads[task]
        params += _count([head])
        spatial = int(np.prod(x_shape[1:3]))
        for layer in head._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.Conv2D):
                macs += spatial * int(np.prod(layer.kernel.shape))
            elif isinstance(layer, keras.layers.Dense):
                macs += int(np.prod(layer.kernel.shape))
        costs[task] = {
            "params": int(params),
            "macs": int(macs),
            "executed_blocks": int(sum(decisions)),
        }
    costs["total"] = {
        "params": _count([model]) - _count_policy(sharing),
    }
    return costs


def _count_policy(sharing):
    if not sharing.learns_policy:
        return 0
    return int(
        np.prod(sharing.policy_logits.shape) + 2  # temperature, curriculum
    )
