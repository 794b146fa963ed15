"""Image classification data in class folders (`<root>/<split>/<class>/*`).

The layout of torchvision's `ImageFolder`, used by TAPS's ImageNet-to-Sketch
data sets (flowers, wikiart, sketches, stanford_cars_cropped, cubs_cropped:
each `<dataset>/{train,test}/<class>/...`) and the folders of DomainNet.

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (the data layout of its code).
"""

import os

import tensorflow as tf

from tfmtl.data.data_source import DataNotFoundError, DataSource

_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# compat: the reference has only train and test and selects checkpoints on
# test; "validation" reads the test folder unless `splits` says otherwise.
DEFAULT_SPLITS = {"train": "train", "validation": "test", "test": "test"}


def list_class_folders(directory):
    """Sorted class folder names under `directory`."""
    return sorted(
        name
        for name in tf.io.gfile.listdir(directory)
        if tf.io.gfile.isdir(os.path.join(directory, name.rstrip("/")))
    )


def list_images(directory, classes):
    """`(paths, labels)` of the images under `directory/<class>/`.

    Files are sorted by class index then name; class folders missing from
    `directory` contribute nothing.
    """
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(directory, name.rstrip("/"))
        if not tf.io.gfile.isdir(folder):
            continue
        for file in sorted(tf.io.gfile.listdir(folder)):
            if file.lower().endswith(_EXTENSIONS):
                paths.append(os.path.join(folder, file))
                labels.append(label)
    return paths, labels


def decode_resize(path, image_size):
    """Reads an image file as float32 [S, S, 3] in [0, 1] (bilinear)."""
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )
    image = tf.image.convert_image_dtype(image, tf.float32)
    # compat: the reference trains on RandomResizedCrop(224) + flips and
    # tests on Resize(256-ish) + CenterCrop(224); here every split is a plain
    # resize, so the pipeline stays a pure function of the example index.
    image = tf.image.resize(image, [image_size, image_size])
    image.set_shape([image_size, image_size, 3])
    return tf.clip_by_value(image, 0.0, 1.0)


class ImageFolder(DataSource):
    """One classification task read from class folders.

    Classes are the sorted folder names of the `train` folder; example `i`
    of a split is its `i`-th file in (class, file name) order, decoded and
    resized to `image_size` squared, with an int32 class label.

    Args:
        root: directory holding one folder per split (`train`, `test`).
        task: name of the classification task.
        image_size: side of the square output images.
        splits: dict mapping split names to folder names (default: train,
            test, and validation = test).

    Example:

    ```python
    flowers = ImageFolder("/data/imagenet_to_sketch/flowers", task="flowers")
    ds = tfmtl.data.make_dataset(flowers, "train", None, 32)
    ```

    Reference:
        TAPS data layout (`<dataset>/{train,test}/<class>/`, a torchvision
        `ImageFolder` per split), as in github.com/MattWallingford/TAPS for
        the ImageNet-to-Sketch datasets.
    """

    def __init__(self, root, task="label", image_size=224, splits=None):
        self.root = os.fspath(root)
        self.task = task
        self.image_size = int(image_size)
        self.splits = dict(splits or DEFAULT_SPLITS)
        self._classes = None
        self._files = {}

    @property
    def task_kinds(self):
        return {self.task: "classification"}

    @property
    def classes(self):
        """The sorted class names."""
        if self._classes is None:
            train = os.path.join(self.root, self.splits.get("train", "train"))
            if not tf.io.gfile.isdir(train):
                raise DataNotFoundError(
                    f"No image folder at {train}; expected "
                    f"{self.root}/<split>/<class>/<image> (download the data "
                    "set and unpack it there)."
                )
            self._classes = list_class_folders(train)
        return self._classes

    @property
    def num_classes(self):
        return len(self.classes)

    def _split_files(self, split):
        if split not in self._files:
            if split not in self.splits:
                raise ValueError(
                    f"Unknown split {split!r}; splits: {sorted(self.splits)}."
                )
            folder = os.path.join(self.root, self.splits[split])
            if not tf.io.gfile.isdir(folder):
                raise DataNotFoundError(f"No split folder {folder}.")
            self._files[split] = list_images(folder, self.classes)
        return self._files[split]

    def num_examples(self, split):
        return len(self._split_files(split)[0])

    def example(self, index, split):
        paths, labels = self._split_files(split)
        path = tf.gather(tf.constant(paths), index)
        label = tf.gather(tf.constant(labels, tf.int32), index)
        return {
            "image": decode_resize(path, self.image_size),
            "labels": {self.task: label},
        }
