"""TensorBoard summaries, image panels and small file helpers.

Only the chief writes; other workers get no-op writers. Runs on the host.
"""

import json
import os

import numpy as np
import tensorflow as tf


class Writers:
    """Summary writers for `train/` and `eval/` under a log directory.

    Args:
        logdir: Root directory of the run's summaries.
        is_chief: Whether this process writes (others get no-op writers).
    """

    def __init__(self, logdir, is_chief=True):
        self.logdir, self.is_chief = logdir, is_chief
        self._writers = {}

    def _writer(self, name):
        if name not in self._writers:
            if self.is_chief:
                path = os.path.join(self.logdir, name)
                self._writers[name] = tf.summary.create_file_writer(path)
            else:
                self._writers[name] = tf.summary.create_noop_writer()
        return self._writers[name]

    def scalars(self, name, values, step):
        """Writes every entry of `values` as a scalar at `step`."""
        with self._writer(name).as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(key, value)

    def images(self, name, panels, step):
        """Writes `{tag: float image batch in [0, 1]}` as image summaries."""
        with self._writer(name).as_default(step=step):
            for tag, panel in panels.items():
                tf.summary.image(f"dense/{tag}", panel, max_outputs=len(panel))

    def write_start(self, hparams, config_text, step):
        """Writes the gin config as text and the hparams of the run."""
        if not self.is_chief:
            return
        with self._writer("train").as_default(step=step):
            if config_text:
                tf.summary.text("config/gin", _markdown_code(config_text))
            if hparams:
                from tensorboard.plugins.hparams import api as hp

                clean = {k: _hparam_value(v) for k, v in hparams.items()}
                hp.hparams(clean, trial_id=os.path.basename(self.logdir))
        self.flush()

    def flush(self):
        for writer in self._writers.values():
            writer.flush()


def _markdown_code(text):
    return "\n".join("    " + line for line in text.splitlines())


def _hparam_value(value):
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


_PALETTE = np.random.default_rng(7).uniform(0.1, 1.0, size=(256, 3))


def dense_panel(kind, images, labels, predictions):
    """Side-by-side [input | label | prediction] images for a dense task.

    Args:
        kind: Task kind ("segmentation", "depth", "normals", "regression").
        images: [N, H, W, 3] inputs in [0, 1].
        labels: Labels in the task's layout.
        predictions: Model outputs for the task.

    Returns:
        float32 [N, H, 3W, 3] in [0, 1].
    """
    images = np.asarray(images, np.float32)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if kind == "segmentation":
        label_rgb = _PALETTE[np.clip(labels, 0, 255).astype(np.int64)]
        label_rgb[labels == 255] = 0.0
        pred_rgb = _PALETTE[np.argmax(predictions, axis=-1)]
    elif kind == "normals":
        label_rgb, pred_rgb = (labels + 1) / 2, (_unit(predictions) + 1) / 2
    else:
        lo = min(labels.min(), predictions.min())
        hi = max(labels.max(), predictions.max(), lo + 1e-6)
        label_rgb = np.repeat((labels[..., :1] - lo) / (hi - lo), 3, axis=-1)
        pred_rgb = np.repeat((predictions[..., :1] - lo) / (hi - lo), 3, -1)
    panel = np.concatenate([images, label_rgb, pred_rgb], axis=2)
    return np.clip(panel, 0.0, 1.0).astype(np.float32)


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def write_json(path, payload):
    """Writes JSON atomically (temp file + rename) to a local or gs:// path."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def heatmap(matrix, cell=16):
    """Draws a matrix as a diverging heatmap (blue < 0 < red).

    Args:
        matrix: 2-D array.
        cell: Pixels per cell side.

    Returns:
        float32 [rows * cell, cols * cell, 3] in [0, 1].
    """
    matrix = np.asarray(matrix, np.float64)
    finite = np.where(np.isfinite(matrix), matrix, 0.0)
    scale = max(np.abs(finite).max(), 1e-12)
    x = np.clip(finite / scale, -1.0, 1.0)[..., None]
    white = np.ones(3)
    red, blue = np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.2, 0.8])
    rgb = np.where(
        x >= 0, white + x * (red - white), white - x * (blue - white)
    )
    image = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    image[::cell, :, :] = 0.5  # grid lines
    image[:, ::cell, :] = 0.5
    return image.astype(np.float32)


def save_png(path, image):
    """Saves a float [H, W, 3] image in [0, 1] as a PNG (local or gs://)."""
    from PIL import Image

    data = (np.clip(np.asarray(image), 0.0, 1.0) * 255).round().astype(np.uint8)
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as f:
        Image.fromarray(data).save(f, format="PNG")
