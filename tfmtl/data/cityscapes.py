"""CityScapes in the "formatted" 256x512 layout of the AdaShare repository.

Reference: Cordts et al., "The Cityscapes Dataset", CVPR 2016; the layout
of `dataloaders/cityscapes_dataloader.py` in github.com/sunxm2357/AdaShare.
"""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data.data_source import DataSource
from tfmtl.data.nyuv2 import load_npy, read_split_json

_LABEL_COLUMNS = {2: 2, 7: 3, 19: 4}


class CityScapes(DataSource):
    """CityScapes semantic segmentation and (disparity-like) depth.

    `data_dir/cityscape.json` maps the splits `train`, `train1`, `train2`
    and `test` to lists of `[img.npy, depth.npy, label2.npy, label7.npy,
    label19.npy]` paths relative to `data_dir`: float RGB images in [0, 1],
    depth with 0 = invalid, integer labels with -1 = ignore, all 256x512.
    Labels are returned with 255 = ignore (the tfmtl convention). The split
    `validation` is the test split.

    Args:
        data_dir: the data root.
        num_classes: 19, 7 or 2, which label file to read.
        json_name: name of the split index inside `data_dir`.
        image_shape: `(H, W)` of the arrays.

    Example:
    ```python
    source = CityScapes("/data/cityscapes")
    ds = tfmtl.data.make_dataset(source, "test", ["depth"], 8)
    ```
    """

    task_kinds = {"segmentation": "segmentation", "depth": "depth"}

    def __init__(
        self,
        data_dir,
        num_classes=19,
        json_name="cityscape.json",
        image_shape=(256, 512),
    ):
        if num_classes not in _LABEL_COLUMNS:
            raise ValueError(f"num_classes must be 2, 7 or 19: {num_classes}.")
        self.data_dir = data_dir
        self.num_classes = num_classes
        self.json_name = json_name
        self.image_shape = tuple(image_shape)
        self.index = read_split_json(data_dir, json_name, "CityScapes")

    def _entries(self, split):
        split = "test" if split == "validation" else split
        if split not in self.index:
            raise ValueError(
                f"CityScapes has no split {split!r}; splits: "
                f"{sorted(self.index)}."
            )
        return self.index[split]

    def num_examples(self, split):
        return len(self._entries(split))

    def example(self, index, split):
        entries = self._entries(split)
        column = _LABEL_COLUMNS[self.num_classes]
        paths = [
            tf.gather(
                tf.constant(
                    [os.path.join(self.data_dir, e[c]) for e in entries]
                ),
                index,
            )
            for c in (0, 1, column)
        ]
        height, width = self.image_shape
        image = tf.reshape(load_npy(paths[0], np.float32), [height, width, 3])
        depth = tf.reshape(load_npy(paths[1], np.float32), [height, width, 1])
        labels = tf.reshape(load_npy(paths[2], np.int32), [height, width])
        # compat: the reference's -1 ignore label becomes 255, the tfmtl
        # ignore label; so its pixel accuracy, which counts -1 pixels as
        # errors (pitfall P4), is not reproduced.
        labels = tf.where(labels < 0, 255, labels)
        # compat: the reference feeds BGR (x 255) minus the Caffe mean; the
        # tfmtl contract is RGB in [0, 1], which the stored arrays already are.
        return {
            "image": tf.clip_by_value(image, 0.0, 1.0),
            "labels": {"segmentation": labels, "depth": depth},
        }
