"""Saving, drawing and costing AdaShare policies."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

_CELL = 16


def load_policy(policy):
    """Normalises a fixed policy to `{task: tuple of 0/1 per block}`.

    Args:
        policy: a dict `{task: sequence of 0/1}` or the path of a JSON file
            holding such a dict under the key "policy" (as written by
            `python -m tfmtl.methods.adashare.main --mode=sample`).

    Returns:
        Dict of tuples of ints, or None when `policy` is None.

    Raises:
        FileNotFoundError: `policy` is a path that does not exist.
    """
    if policy is None:
        return None
    if isinstance(policy, str):
        if not tf.io.gfile.exists(policy):
            raise FileNotFoundError(
                f"No policy file {policy} (POLICY_FILE); write the samples "
                "with tfmtl-adashare --mode=sample first."
            )
        with tf.io.gfile.GFile(policy) as f:
            policy = json.load(f)["policy"]
    return {t: tuple(int(d) for d in p) for t, p in dict(policy).items()}


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


def _variables(layers):
    return {id(v): v for layer in layers for v in layer.weights}


def _size(variables):
    return int(sum(np.prod(v.shape) for v in variables.values()))


def path_costs(model, image_shape, policy=None):
    """Parameters and multiply-accumulates of each task's path.

    What is counted, for one image of `image_shape`:

    * `params`: every weight the task's forward pass reads: the stem, the
      residual branch of each block it executes, the projection shortcut of
      every block (a skipped block still runs it), and its own head.
      Batch-norm moving statistics count, as in the reference
      `count_params` (which counts every state-dict tensor); policy logits
      do not.
    * `macs`: multiply-accumulates of the convolutions on that path
      (`H_out * W_out * k_h * k_w * C_in * C_out` per convolution; the
      head's at the feature resolution, as its convolutions have stride 1
      like `ASPPHead` and `DenseHead`) and of dense layers. Batch norm,
      ReLU, residual additions, biases, dropout and the final bilinear
      resize to the input size are not counted.
    * `flops`: `2 * macs` (one multiply and one add per MAC).
    * `executed_blocks`: residual branches executed.

    Under "total": `params` of the whole model (all tasks' heads, every
    block) and `union_params`, the distinct parameters used by at least
    one task's path (what a deployment of the learned policy keeps).

    Args:
        model: a built `MultiTaskModel` whose sharing is `AdaShare`.
        image_shape: `(H, W, 3)` of one input image.
        policy: `{task: 0/1 per block}`; default the sharing's fixed policy,
            or every block executed.

    Returns:
        `{task: {"params", "macs", "flops", "executed_blocks"}}` and
        `{"total": {"params", "union_params"}}`.
    """
    sharing = model.sharing
    backbone = sharing.backbone
    policy = policy or sharing.policy
    shape = (1, *image_shape)
    stem_macs, stem_shape = _conv_macs(backbone.stem.layers, shape)
    costs, union = {}, {}
    for task in model.task_names:
        decisions = policy[task] if policy else [1] * sharing.num_blocks
        used = _variables([backbone.stem])
        macs, x_shape = stem_macs, stem_shape
        for block, run in zip(backbone.blocks, decisions):
            sc_macs, out_shape = _conv_macs(block.shortcut_layers, x_shape)
            used.update(_variables(block.shortcut_layers))
            macs += sc_macs
            if run:
                res_macs, out_shape = _conv_macs(block.residual_layers, x_shape)
                used.update(_variables(block.residual_layers))
                macs += res_macs
            x_shape = out_shape
        head = model.heads[task]
        used.update(_variables([head]))
        spatial = int(np.prod(x_shape[1:3]))
        for layer in head._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.Conv2D):
                macs += spatial * int(np.prod(layer.kernel.shape))
            elif isinstance(layer, keras.layers.Dense):
                macs += int(np.prod(layer.kernel.shape))
        union.update(used)
        costs[task] = {
            "params": _size(used),
            "macs": int(macs),
            "flops": 2 * int(macs),
            "executed_blocks": int(sum(decisions)),
        }
    costs["total"] = {
        "params": _size(_variables([model])) - _count_policy(sharing),
        "union_params": _size(union),
    }
    return costs


def _count_policy(sharing):
    if not sharing.learns_policy:
        return 0
    return int(
        np.prod(sharing.policy_logits.shape) + 2  # temperature, curriculum
    )
