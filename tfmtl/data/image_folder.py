"""Image classification data in class folders (`<root>/<split>/<class>/*`).

The layout of torchvision's `ImageFolder`, used by TAPS's ImageNet-to-Sketch
data sets (flowers, wikiart, sketches, stanford_cars_cropped, cubs_cropped:
each `<dataset>/{train,test}/<class>/...`) and the folders of DomainNet.

With `augment` set, images are decoded at their native size and given the
TAPS reference's transforms (`tfmtl.data.classification_augment`) with
ImageNet normalisation; training draws are seeded by the example index, so
a resumed run repeats them (see `ImageFolder`).

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (the data layout of its code).
"""

import os

import tensorflow as tf

from tfmtl.data import classification_augment
from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.file_errors import read_decoded

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


def decode(path):
    """Reads an image file as float32 [H, W, 3] in [0, 1], native size."""
    image = read_decoded(
        path, lambda b: tf.io.decode_image(b, 3, expand_animations=False)
    )
    return tf.image.convert_image_dtype(image, tf.float32)


def decode_resize(path, image_size):
    """Reads an image file as float32 [S, S, 3] in [0, 1] (bilinear)."""
    image = decode(path)
    # compat: without `augment` every split is a plain (squashing) resize
    # with input in [0, 1]; the reference trains on RandomResizedCrop(224) +
    # flips and tests on Resize(224) + CenterCrop(224), ImageNet-normalised,
    # which `augment="crop"` gives.
    image = tf.image.resize(image, [image_size, image_size])
    image.set_shape([image_size, image_size, 3])
    return tf.clip_by_value(image, 0.0, 1.0)


def check_augment(augment, variants):
    """Raises ValueError on a bad `augment` or `variants`."""
    if augment is not None and augment not in classification_augment.AUGMENTS:
        raise ValueError(
            f"augment must be None or one of "
            f"{classification_augment.AUGMENTS}: {augment!r}"
        )
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}.")


def load_image(path, image_size, augment, train, seed):
    """`decode_resize` (augment None) or the TAPS transform of a file."""
    if augment is None:
        return decode_resize(path, image_size)
    return classification_augment.taps_image(
        decode(path), image_size, train, seed, augment
    )


class ImageFolder(DataSource):
    """One classification task read from class folders.

    Classes are the sorted folder names of the `train` folder; example `i`
    of a split is its `i`-th file in (class, file name) order, with an
    int32 class label. Without `augment` the image is resized to
    `image_size` squared, in [0, 1]. With `augment` it is normalised with
    the ImageNet mean / std after the TAPS transforms: in `train_splits`
    the random ones, elsewhere the deterministic test ones.

    **Draws.** An augmented training split has `variants` times the files:
    example `i` is file `i mod N` under the draw seeded by `(seed, i)`, so
    draw `i // N` of a file is fresh and a resumed run (which skips on the
    index stream) repeats exactly the draws of an uninterrupted one.

    Args:
        root: directory holding one folder per split (`train`, `test`).
        task: name of the classification task.
        image_size: side of the square output images.
        splits: dict mapping split names to folder names (default: train,
            test, and validation = test).
        augment: None (plain resize, [0, 1]), `"crop"` (RandomResizedCrop +
            flip / Resize + CenterCrop) or `"resize"` (the reference's
            `--cropped`: Resize to the square, flip in training).
        train_splits: split names given the training transform.
        seed: seed of the training draws.
        variants: draws per file in a training split (see above).

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

    def __init__(
        self,
        root,
        task="label",
        image_size=224,
        splits=None,
        augment=None,
        train_splits=("train",),
        seed=0,
        variants=1,
    ):
        check_augment(augment, variants)
        self.root = os.fspath(root)
        self.task = task
        self.image_size = int(image_size)
        self.splits = dict(splits or DEFAULT_SPLITS)
        self.augment = augment
        self.train_splits = tuple(train_splits)
        self.seed, self.variants = int(seed), int(variants)
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

    def _drawn(self, split):
        return self.augment is not None and split in self.train_splits

    def num_examples(self, split):
        count = len(self._split_files(split)[0])
        return count * self.variants if self._drawn(split) else count

    def example(self, index, split):
        paths, labels = self._split_files(split)
        index = tf.cast(index, tf.int64)
        seed = tf.stack([tf.constant(self.seed, tf.int64), index])
        if self._drawn(split):
            index = index % len(paths)
        path = tf.gather(tf.constant(paths), index)
        label = tf.gather(tf.constant(labels, tf.int32), index)
        image = load_image(
            path, self.image_size, self.augment, self._drawn(split), seed
        )
        return {"image": image, "labels": {self.task: label}}
