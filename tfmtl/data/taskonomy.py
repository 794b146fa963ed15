"""Tiny-Taskonomy in the folder layout read by the AdaShare repository.

Reference: Zamir et al., "Taskonomy", CVPR 2018; the target processing of
`dataloaders/taskonomy_dataloader.py` in github.com/sunxm2357/AdaShare.
"""

import math
import os

import numpy as np
import tensorflow as tf

from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.file_errors import read_decoded
from tfmtl.data.nyuv2 import read_split_json

_COLUMNS = ("rgb", "segmentation", "normals", "depth", "keypoints", "edges")
_DEPTH_LIMIT = 64500.0
_NUM_CLASSES = 17


def read_semseg_prior(data_dir, file_name="semseg_prior_factor.npy"):
    """Reads Taskonomy's segmentation class weights (the prior factor).

    AdaShare weights the segmentation cross-entropy by this file, copied
    into the data root from `taskbank/lib/data/semseg_prior_factor.npy` of
    github.com/StanfordVL/taskonomy.

    Args:
        data_dir: the data root.
        file_name: name of the weights file inside `data_dir`.

    Returns:
        float64 numpy array [17], one weight per class.

    Raises:
        DataNotFoundError: the file is missing.
        ValueError: it does not hold 17 weights.
    """
    path = os.path.join(data_dir, file_name)
    if not tf.io.gfile.exists(path):
        raise DataNotFoundError(
            f"Taskonomy: {path} not found; copy "
            "taskbank/lib/data/semseg_prior_factor.npy of "
            "github.com/StanfordVL/taskonomy into the data root."
        )
    with tf.io.gfile.GFile(path, "rb") as f:
        weights = np.asarray(np.load(f), np.float64).reshape(-1)
    if weights.shape != (_NUM_CLASSES,):
        raise ValueError(
            f"{path} holds {weights.size} weights; expected {_NUM_CLASSES}."
        )
    return weights


class Taskonomy(DataSource):
    """Taskonomy segmentation, normals, depth, 2D keypoints and edges.

    `data_dir/taskonomy.json` maps the splits `train`, `train1`, `train2`,
    `test` and `test_small` to lists of `[rgb, segment_semantic, normal,
    depth_zbuffer, keypoints2d, edge_texture]` PNG paths relative to
    `data_dir`. Everything is resized to `image_size` (nearest) and
    processed as in the reference: segmentation 0 merged into 1, minus 1
    (17 classes); normals /255 rescaled to [-1, 1]; depth
    `log(1 + d) / log(2^16)` with pixels `d >= 64500` invalid (0);
    keypoints `/2^16` clipped to [0, 0.005] and edges `/2^16` clipped to
    [0, 0.08], both rescaled to [-1, 1]. The split `validation` is the test
    split.

    Args:
        data_dir: the data root.
        image_size: side of the square images.
        json_name: name of the split index inside `data_dir`.
        mask_normals: zero the normals where the depth is invalid. The
            reference computes this mask but never applies it; False
            reproduces that.

    Example:
    ```python
    source = Taskonomy("/data/taskonomy")
    ds = tfmtl.data.make_dataset(source, "train1", ["edges"], 16)
    ```
    """

    task_kinds = {
        "segmentation": "segmentation",
        "normals": "normals",
        "depth": "depth",
        "keypoints": "regression",
        "edges": "regression",
    }
    num_classes = _NUM_CLASSES

    def __init__(
        self,
        data_dir,
        image_size=256,
        json_name="taskonomy.json",
        mask_normals=True,
    ):
        self.data_dir = data_dir
        self.image_size = int(image_size)
        self.json_name = json_name
        self.mask_normals = mask_normals
        self.index = read_split_json(data_dir, json_name, "Taskonomy")

    def _entries(self, split):
        split = "test" if split == "validation" else split
        if split not in self.index:
            raise ValueError(
                f"Taskonomy has no split {split!r}; splits: "
                f"{sorted(self.index)}."
            )
        return self.index[split]

    def num_examples(self, split):
        return len(self._entries(split))

    def _read(self, path, channels, dtype=tf.uint8):
        image = read_decoded(
            path, lambda b: tf.io.decode_png(b, channels, dtype)
        )
        size = (self.image_size, self.image_size)
        return tf.image.resize(image, size, method="nearest")

    def example(self, index, split):
        entries = self._entries(split)
        paths = {
            name: tf.gather(
                tf.constant(
                    [os.path.join(self.data_dir, e[c]) for e in entries]
                ),
                index,
            )
            for c, name in enumerate(_COLUMNS)
        }
        # compat: the reference feeds BGR minus the Caffe mean; the tfmtl
        # contract is RGB in [0, 1] (the trunk normalises its own input).
        image = tf.cast(self._read(paths["rgb"], 3), tf.float32) / 255.0
        seg = tf.cast(self._read(paths["segmentation"], 1)[..., 0], tf.int32)
        seg = tf.maximum(seg, 1) - 1
        raw_depth = tf.cast(
            self._read(paths["depth"], 1, tf.uint16), tf.float32
        )
        valid = raw_depth < _DEPTH_LIMIT
        depth = tf.math.log1p(raw_depth) / math.log(2.0**16)
        depth = tf.where(valid, depth, 0.0)
        normals = tf.cast(self._read(paths["normals"], 3), tf.float32)
        normals = normals / 255.0 * 2.0 - 1.0
        if self.mask_normals:
            normals = tf.where(valid, normals, 0.0)
        # compat: with mask_normals=False the normal mask is ignored, as in
        # the reference (`sn_mask` vs `normal_mask`).

        def rescaled(name, limit):
            raw = tf.cast(self._read(paths[name], 1, tf.uint16), tf.float32)
            value = tf.clip_by_value(raw / 2.0**16, 0.0, limit)
            return value / limit * 2.0 - 1.0

        return {
            "image": image,
            "labels": {
                "segmentation": seg,
                "normals": normals,
                "depth": depth,
                "keypoints": rescaled("keypoints", 0.005),
                "edges": rescaled("edges", 0.08),
            },
        }
