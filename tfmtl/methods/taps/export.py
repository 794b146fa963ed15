"""Exports of a trained TAPS model and the picture of its tuned layers.

* Compact export (`export_compact` / `load_compact`): the architecture
  (`model.json`), the shared base (`base.npz`: base kernels and biases of the
  gated layers) and per task `task_<name>.npz` with its scores, the deltas of
  the layers it tunes only, its normalisation and its head. Storage per task
  grows with the number of tuned layers, as in the paper.
* Merged export (`export_merged`): per task, a plain `MultiTaskModel`
  (hard sharing over the same backbone with `Conv2D` / `BatchNormalization`)
  whose kernels are `w0 + delta` where the task tunes the layer, saved as
  `merged_<task>.keras`: the inference cost of the base network.
* `layer_map_image` / `write_png`: tasks x gated layers, tuned cells dark.
"""

import io
import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods.taps import base_loading
from tfmtl.methods.taps.taps_batch_normalization import TAPSBatchNormalization
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.sharing.hard_sharing import HardSharing


def _taps_sharing(model):
    sharing = model.sharing
    if not hasattr(sharing, "gated_layers"):
        raise ValueError("The model does not use TAPS sharing.")
    return sharing


def _task_norms(sharing, index):
    norms = []
    for layer in base_loading._norm_layers(sharing.backbone):
        if isinstance(layer, TAPSBatchNormalization):
            layer = layer.norms[index]
        norms.append(layer)
    return norms


def _save_npz(path, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def _load_npz(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        buffer = io.BytesIO(f.read())
    with np.load(buffer) as data:
        return {k: data[k] for k in data.files}


def export_compact(model, directory, input_shape):
    """Writes the compact export of a TAPS `MultiTaskModel`.

    Args:
        model: a built `MultiTaskModel` with `TAPS` sharing.
        directory: destination directory.
        input_shape: image shape `(H, W, 3)` the model runs on.

    Returns:
        `{task: number of stored delta parameters}`.
    """
    sharing = _taps_sharing(model)
    layers = sharing.gated_layers()
    config = {
        "model": keras.saving.serialize_keras_object(model),
        "input_shape": list(input_shape),
        "tasks": list(sharing.tasks),
    }
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, "model.json"), "w") as f:
        json.dump(config, f)
    base = {}
    for i, layer in enumerate(layers):
        base[f"kernel_{i}"] = np.asarray(layer.base_kernel)
        if layer.use_bias:
            base[f"bias_{i}"] = np.asarray(layer.bias)
    _save_npz(os.path.join(directory, "base.npz"), base)
    active = sharing.active_layers()
    stored = {}
    for t, task in enumerate(sharing.tasks):
        arrays = {"scores": sharing.scores()[t]}
        count = 0
        for i, layer in enumerate(layers):
            if active[t, i]:
                arrays[f"delta_{i}"] = np.asarray(layer.deltas[t])
                count += arrays[f"delta_{i}"].size
        for j, norm in enumerate(_task_norms(sharing, t)):
            for k, variable in enumerate(norm.weights):
                arrays[f"norm_{j}_{k}"] = np.asarray(variable)
        if task in model.heads:
            for k, variable in enumerate(model.heads[task].weights):
                arrays[f"head_{k}"] = np.asarray(variable)
        _save_npz(os.path.join(directory, f"task_{task}.npz"), arrays)
        stored[task] = count
    return stored


def load_compact(directory):
    """Rebuilds the TAPS `MultiTaskModel` written by `export_compact`.

    Layers a task does not tune get a zero delta (and their stored score,
    below the threshold), so outputs equal the exported model's.
    """
    import tfmtl.methods.taps  # noqa: F401  (registers the TAPS classes)

    path = os.path.join(directory, "model.json")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"No compact TAPS export in {directory}.")
    with tf.io.gfile.GFile(path) as f:
        config = json.load(f)
    model = keras.saving.deserialize_keras_object(config["model"])
    model(tf.zeros((1, *config["input_shape"])), training=False)
    sharing = _taps_sharing(model)
    layers = sharing.gated_layers()
    base = _load_npz(os.path.join(directory, "base.npz"))
    for i, layer in enumerate(layers):
        layer.base_kernel.assign(base[f"kernel_{i}"])
        if layer.use_bias:
            layer.bias.assign(base[f"bias_{i}"])
    for t, task in enumerate(sharing.tasks):
        arrays = _load_npz(os.path.join(directory, f"task_{task}.npz"))
        for i, layer in enumerate(layers):
            layer.scores[t].assign(arrays["scores"][i])
            delta = arrays.get(f"delta_{i}")
            if delta is None:
                delta = np.zeros(layer.deltas[t].shape, np.float32)
            layer.deltas[t].assign(delta)
        for j, norm in enumerate(_task_norms(sharing, t)):
            for k, variable in enumerate(norm.weights):
                variable.assign(arrays[f"norm_{j}_{k}"])
        if task in model.heads:
            for k, variable in enumerate(model.heads[task].weights):
                variable.assign(arrays[f"head_{k}"])
    return model


def merged_model(model, task, input_shape):
    """A plain single-task `MultiTaskModel` with the task's merged kernels."""
    sharing = _taps_sharing(model)
    t = sharing.tasks.index(task)
    backbone = base_loading.plain_clone(sharing.backbone)
    head_config = keras.saving.serialize_keras_object(model.heads[task])
    head = keras.saving.deserialize_keras_object(head_config)
    merged = MultiTaskModel(HardSharing(backbone, tasks=(task,)), {task: head})
    merged(tf.zeros((1, *input_shape)), training=False)
    sharing.set_task(t)
    src = base_loading._kernel_layers(sharing.backbone)
    for a, b in zip(src, base_loading._kernel_layers(backbone)):
        b.kernel.assign(np.asarray(a.task_kernel(t)))
        if a.use_bias:
            b.bias.assign(a.bias)
    for a, b in zip(
        _task_norms(sharing, t), base_loading._norm_layers(backbone)
    ):
        for x, y in zip(a.weights, b.weights):
            y.assign(x)
    sharing.set_task(0)
    for x, y in zip(model.heads[task].weights, head.weights):
        y.assign(x)
    return merged


def export_merged(model, directory, input_shape):
    """Saves `merged_<task>.keras` for every task; returns the paths."""
    sharing = _taps_sharing(model)
    tf.io.gfile.makedirs(directory)
    paths = {}
    for task in sharing.tasks:
        if task not in model.heads:
            continue
        path = os.path.join(directory, f"merged_{task}.keras")
        merged_model(model, task, input_shape).save(path)
        paths[task] = path
    return paths


def layer_map_image(active, cell=8):
    """An RGB uint8 image [tasks * cell, layers * cell, 3] of tuned layers.

    Rows are tasks, columns gated layers from input to output; a tuned layer
    is dark orange, an untouched one light grey, with 1-pixel white gaps.
    """
    active = np.asarray(active, dtype=bool)
    tasks, layers = active.shape
    image = np.full((tasks * cell, layers * cell, 3), 255, np.uint8)
    on, off = np.array([217, 95, 2], np.uint8), np.array([220] * 3, np.uint8)
    for t in range(tasks):
        for i in range(layers):
            color = on if active[t, i] else off
            image[
                t * cell : (t + 1) * cell - 1, i * cell : (i + 1) * cell - 1
            ] = color
    return image


def write_png(path, image):
    """Writes an RGB uint8 image as a PNG file (local or `gs://`)."""
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(tf.io.encode_png(image).numpy())
