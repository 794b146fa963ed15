"""NYUv2 in the "formatted" layout of the AdaShare repository.

Reference: Silberman et al., "Indoor Segmentation and Support Inference
from RGBD Images", ECCV 2012; the layout and label conventions of
`dataloaders/nyu_v2_dataloader.py` in github.com/sunxm2357/AdaShare.
"""

import io
import json
import os

import numpy as np
import tensorflow as tf

from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.file_errors import read_decoded

NORMALS_ENCODINGS = ("decoded", "adashare")


def read_split_json(data_dir, json_name, dataset):
    """Reads the `{split: [[path, ...], ...]}` index of a formatted data set.

    Args:
        data_dir: the data root.
        json_name: file name of the index inside `data_dir`.
        dataset: data set name for the error message.

    Returns:
        Dict of split name to a list of path lists (relative to the root).

    Raises:
        DataNotFoundError: when the index is missing.
    """
    path = os.path.join(data_dir, json_name)
    if not tf.io.gfile.exists(path):
        raise DataNotFoundError(
            f"{dataset}: {path} not found; download the formatted data set "
            "linked from github.com/sunxm2357/AdaShare (README) and pass its "
            "root as data_dir."
        )
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def load_npy(path, dtype):
    """Reads a `.npy` file inside a `tf.data` map (parsed by numpy).

    A missing or corrupt file fails with its path (`read_decoded`).
    """

    def parse(contents):
        try:
            array = np.load(io.BytesIO(contents), allow_pickle=False)
            return True, np.asarray(array, dtype=dtype)
        except Exception:  # noqa: BLE001 - reported with the path below.
            return False, np.zeros([0], dtype)

    def decode(contents):
        ok, array = tf.numpy_function(
            parse, [contents], (tf.bool, tf.as_dtype(dtype))
        )
        # Fails quietly inside `read_decoded`, which names the file.
        with tf.control_dependencies([tf.debugging.Assert(ok, ["npy"])]):
            return tf.identity(array)

    return read_decoded(path, decode)


def read_png(path, channels):
    """Decodes a PNG file to uint8 [H, W, channels], naming it on failure."""
    return read_decoded(path, lambda b: tf.io.decode_png(b, channels))


def encoded_normals(raw, encoding):
    """Normals label from an (n + 1) / 2 * 255 encoded uint8 image.

    Args:
        raw: uint8 tensor [H, W, 3]; (255, 255, 255) marks invalid pixels.
        encoding: "decoded" (unit vectors in [-1, 1], invalid = 0) or
            "adashare" (the reference quirk: the encoded value / 255 is used
            as the vector, so losses and metrics normalise it without
            re-centring; pixels with a channel at 255 are invalid).

    Returns:
        float32 [H, W, 3].
    """
    if encoding not in NORMALS_ENCODINGS:
        raise ValueError(
            f"normals_encoding must be one of {NORMALS_ENCODINGS}, "
            f"got {encoding!r}."
        )
    values = tf.cast(raw, tf.float32)
    if encoding == "adashare":
        # compat: AdaShare normalises the raw encoded vector (pitfall P1);
        # angles then come out roughly halved, as in its published tables.
        valid = tf.reduce_max(values, axis=-1, keepdims=True) < 255.0
        return tf.where(valid, values / 255.0, 0.0)
    valid = tf.reduce_min(values, axis=-1, keepdims=True) < 255.0
    normals = tf.math.l2_normalize(values / 255.0 * 2.0 - 1.0, axis=-1)
    return tf.where(valid, normals, 0.0)


class NYUv2(DataSource):
    """NYUv2 semantic segmentation (40 classes), surface normals and depth.

    Reads the formatted layout the AdaShare code expects: `data_dir/
    nyu_v2_3task.json` maps the splits `train`, `train1`, `train2` and
    `test` to lists of `[img, seg, normal, depth]` paths relative to
    `data_dir`, where `img/XXXX.png` is 480x640 RGB, `seg/XXXX.png` uint8
    classes 0..39 with 255 = ignore, `normal_mask/XXXX.png` the encoded
    normals (n + 1) / 2 * 255 with (255, 255, 255) = invalid and
    `depth/XXXX.npy` float32 metres with 0 = invalid. The split
    `validation` is the test split (the reference validates on it).

    Images are float32 RGB in [0, 1] at full resolution (`image_shape`, a
    static shape so models can be built from the element spec), without
    augmentation (see `tfmtl.data.augment.DenseAugment`). The normals'
    channels are the PNG's R, G, B in that order, as the reference loaders
    read them; channel 0 holds the horizontal component, so a horizontal
    flip needs `normals_flip="negate"` with the "decoded" encoding and
    `normals_flip="encoded"` (x -> 1 - x) with "adashare"
    (`tests/data/normals_flip_test.py`).

    Args:
        data_dir: the data root.
        json_name: name of the split index inside `data_dir`.
        normals_encoding: "decoded" (correct unit normals) or "adashare"
            (reproduces the reference's encoded-space normals, so numbers
            compare with the paper).
        image_shape: `(H, W)` of every image and label (480x640 in the
            formatted release).

    Example:
    ```python
    source = NYUv2("/data/nyu_v2")
    ds = tfmtl.data.make_dataset(source, "train1", ["segmentation"], 16)
    ```
    """

    task_kinds = {
        "segmentation": "segmentation",
        "normals": "normals",
        "depth": "depth",
    }
    num_classes = 40

    def __init__(
        self,
        data_dir,
        json_name="nyu_v2_3task.json",
        normals_encoding="decoded",
        image_shape=(480, 640),
    ):
        encoded_normals(tf.zeros([1, 1, 3], tf.uint8), normals_encoding)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.data_dir = data_dir
        self.json_name = json_name
        self.normals_encoding = normals_encoding
        self.index = read_split_json(data_dir, json_name, "NYUv2")

    def _entries(self, split):
        split = "test" if split == "validation" else split
        if split not in self.index:
            raise ValueError(
                f"NYUv2 has no split {split!r}; splits: {sorted(self.index)}."
            )
        return self.index[split]

    def num_examples(self, split):
        return len(self._entries(split))

    def example(self, index, split):
        entries = self._entries(split)
        columns = [
            tf.constant([os.path.join(self.data_dir, e[c]) for e in entries])
            for c in range(4)
        ]
        img, seg, normal, depth = (tf.gather(c, index) for c in columns)
        image = read_png(img, 3)
        # compat: the reference feeds BGR minus the Caffe mean; the tfmtl
        # contract is RGB in [0, 1].
        image = tf.image.convert_image_dtype(image, tf.float32)
        labels = read_png(seg, 1)[..., 0]
        raw_normals = read_png(normal, 3)
        depth_map = load_npy(depth, np.float32)
        height, width = self.image_shape
        depth_map = tf.reshape(depth_map, [height, width, 1])
        normals = encoded_normals(raw_normals, self.normals_encoding)
        return {
            "image": tf.ensure_shape(image, [height, width, 3]),
            "labels": {
                "segmentation": tf.ensure_shape(
                    tf.cast(labels, tf.int32), [height, width]
                ),
                "normals": tf.ensure_shape(normals, [height, width, 3]),
                "depth": depth_map,
            },
        }
