"""NYUv2 segmentation + surface normals in the NDDR-CNN / MTL-NAS layout.

Reference: Gao et al., "NDDR-CNN", CVPR 2019 and "MTL-NAS", CVPR 2020 (the
`datasets/nyu_v2` folder of their code); Silberman et al., ECCV 2012 (NYU
Depth v2); Eigen & Fergus, ICCV 2015 (normals).
"""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.file_errors import read_decoded
from tfmtl.data.nyuv2 import read_png

_LISTS = {
    "training": ("training_seg.txt", "training_normal_mask.txt"),
    "testing": ("testing_seg.txt", "testing_normal_mask.txt"),
}


class NYUv2List(DataSource):
    """NYUv2 (795 train / 654 test) read from NDDR-CNN style list files.

    Layout under `root` (as in the NDDR-CNN and MTL-NAS repositories):
    `list/{training,testing}_seg.txt` and
    `list/{training,testing}_normal_mask.txt`, one `<image> <label>` pair a
    line. Paths are relative to `root` (the original lists start them with
    `/` and append them to the root). Both lists of a split must name the
    same images in the same order.

    Tasks (`task_kinds`): `segmentation` (int32 [H, W], 40 classes, 255 =
    unlabelled, from a one-channel PNG) and `normals` (float32 [H, W, 3]
    unit vectors from a three-channel uint8 PNG mapped by `v / 127.5 - 1`;
    a pixel whose three channels are 255 is invalid and becomes all-zero,
    the library's invalid-normal marker). Images are float32 RGB in
    [0, 1]. With `image_size`, images are resized bilinearly and labels
    with nearest neighbours; no augmentation is applied (wrap the source
    for that). Without it, every example keeps the stored size, read once
    from the first training image (NYUv2: 480 x 640) so the pipeline sees
    a static shape, and an image or label of another size stops the
    pipeline with an error naming the file.

    Splits: `test` is the testing list; the training list is split once
    (a seeded permutation) into `train` and a held-out `validation` of
    `num_validation` images; `trainval` is the whole training list.

    Args:
        root: folder holding `list/` and the files the lists name.
        image_size: `(height, width)` to resize to, or None to keep the
            stored size (every file must then have the size of the first
            training image).
        num_validation: training images held out as `validation`.
        seed: seed of the validation permutation.

    Raises:
        DataNotFoundError: when a list file is missing.
        ValueError: when the lists of a split disagree or are too short.

    Example:

    ```python
    source = NYUv2List("datasets/nyu_v2", image_size=(321, 321))
    ds = tfmtl.data.make_dataset(source, "train", None, 10)
    ```
    """

    task_kinds = {"segmentation": "segmentation", "normals": "normals"}
    num_classes = 40
    ignore_label = 255

    def __init__(self, root, image_size=None, num_validation=95, seed=0):
        self.root = str(root)
        self.image_size = None if image_size is None else tuple(image_size)
        self.num_validation = int(num_validation)
        self.seed = int(seed)
        files = {name: self._read_lists(name) for name in _LISTS}
        train_count = len(files["training"][0])
        if not 0 <= self.num_validation < train_count:
            raise ValueError(
                f"num_validation={num_validation} must be in [0, "
                f"{train_count}) for {train_count} training images."
            )
        # compat: the reference selects checkpoints on the test list; here a
        # held-out part of the training list is the validation split.
        order = np.random.default_rng(self.seed).permutation(train_count)
        held_out = np.sort(order[: self.num_validation])
        kept = np.sort(order[self.num_validation :])
        self._splits = {
            "train": ("training", kept),
            "validation": ("training", held_out),
            "trainval": ("training", np.arange(train_count)),
            "test": ("testing", np.arange(len(files["testing"][0]))),
        }
        self._files = {
            name: tuple(tf.constant(column) for column in columns)
            for name, columns in files.items()
        }
        self.stored_size = None
        if self.image_size is None:
            # The trainer needs a static example shape: take the first
            # training image's and check every file against it.
            first = files["training"][0][0]
            if not tf.io.gfile.exists(first):
                raise DataNotFoundError(
                    f"NYUv2 image {first} (first line of "
                    "list/training_seg.txt) not found."
                )
            shape = tf.io.decode_image(
                tf.io.read_file(first), channels=3, expand_animations=False
            ).shape
            self.stored_size = (int(shape[0]), int(shape[1]))

    def _read_lists(self, name):
        columns = []
        for filename in _LISTS[name]:
            path = os.path.join(self.root, "list", filename)
            if not tf.io.gfile.exists(path):
                raise DataNotFoundError(
                    f"NYUv2 list file {path} not found: download the "
                    "pre-processed NYUv2 of NDDR-CNN / MTL-NAS (see their "
                    "READMEs) and pass its datasets/nyu_v2 folder as root."
                )
            with tf.io.gfile.GFile(path) as f:
                pairs = [line.split() for line in f if line.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(f"{path}: expected '<image> <label>' lines.")
            columns.append(pairs)
        seg, normal = columns
        if [p[0] for p in seg] != [p[0] for p in normal]:
            raise ValueError(
                f"The segmentation and normal lists of {name!r} name "
                "different images."
            )
        return (
            [self._path(p[0]) for p in seg],
            [self._path(p[1]) for p in seg],
            [self._path(p[1]) for p in normal],
        )

    def _path(self, relative):
        return os.path.join(self.root, relative.lstrip("/"))

    def num_examples(self, split):
        return len(self._split(split)[1])

    def _split(self, split):
        if split not in self._splits:
            raise ValueError(
                f"Unknown NYUv2 split {split!r}; splits are "
                f"{sorted(self._splits)}."
            )
        return self._splits[split]

    def _check_size(self, x, path):
        """`x` with the static stored size; fails on another size."""
        height, width = self.stored_size
        check = tf.debugging.Assert(
            tf.reduce_all(tf.shape(x)[:2] == [height, width]),
            [
                "NYUv2List: file",
                path,
                "has size",
                tf.shape(x)[:2],
                f"but image_size=None expects the stored size {height}x"
                f"{width} of the first training image; pass image_size to "
                "resize.",
            ],
        )
        with tf.control_dependencies([check]):
            x = tf.identity(x)
        return tf.ensure_shape(x, (height, width, x.shape[-1]))

    def example(self, index, split):
        name, indices = self._split(split)
        images, segs, normals = self._files[name]
        row = tf.gather(tf.constant(indices, tf.int64), index)
        image = read_decoded(
            tf.gather(images, row),
            lambda b: tf.io.decode_image(b, 3, expand_animations=False),
        )
        image = tf.image.convert_image_dtype(image, tf.float32)
        seg = read_png(tf.gather(segs, row), 1)
        raw = read_png(tf.gather(normals, row), 3)
        valid = tf.reduce_any(raw != 255, axis=-1, keepdims=True)
        # compat: the reference feeds the stored uint8 values to a cosine
        # loss unchanged; here they are mapped to [-1, 1] unit vectors.
        vectors = tf.cast(raw, tf.float32) / 127.5 - 1.0
        vectors = tf.math.l2_normalize(vectors, axis=-1)
        vectors = tf.where(valid, vectors, tf.zeros_like(vectors))
        if self.image_size is not None:
            image = tf.image.resize(image, self.image_size, "bilinear")
            seg = tf.image.resize(seg, self.image_size, "nearest")
            vectors = tf.image.resize(vectors, self.image_size, "nearest")
        else:
            image, seg, vectors = (
                self._check_size(x, tf.gather(f, row))
                for x, f in zip((image, seg, vectors), (images, segs, normals))
            )
        return {
            "image": image,
            "labels": {
                "segmentation": tf.cast(seg[..., 0], tf.int32),
                "normals": vectors,
            },
        }
