"""Visual Decathlon (Rebuffi et al. 2017) at 72 px, one task per data set.

Two layouts are read:

* `format="tfds"`: the TFDS build `visual_domain_decathlon/<task>` (features
  `image`, `label`; splits train / validation / test).
* `format="devkit"`: the devkit folder as downloaded, `data_dir` holding
  `annotations/<task>_<split>.json` (COCO style: `images` with `id` and
  `file_name` relative to `data_dir`, `annotations` with `image_id` and
  `category_id`, `categories`) and the image files. Category ids are mapped
  to 0..C-1 in sorted order.

Every task is its own data set, so splits are per task: `"<split>/<task>"`
(e.g. "train/aircraft"); `"<split>"` alone concatenates all tasks (for joint
evaluation). An example carries its own task's label and -1 for every other
task: the accuracy metrics skip labels outside [0, C) and the losses of
`decathlon_tasks` give them zero loss.

Images are resized isotropically so the shorter side is `image_size` and
center-cropped; training streams (read with a shuffle seed) add a random
crop with 4 px padding and a horizontal flip (not for gtsrb, omniglot,
svhn, whose classes depend on orientation).
"""

import dataclasses
import json
import os

import tensorflow as tf

from tfmtl import losses
from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.tasks import make_task

#: Decathlon task order of the reference (index 0 is only pre-training).
TASKS = (
    "imagenet12",
    "aircraft",
    "cifar100",
    "daimlerpedcls",
    "dtd",
    "gtsrb",
    "vgg-flowers",
    "omniglot",
    "svhn",
    "ucf101",
)
NUM_CLASSES = {
    "imagenet12": 1000,
    "aircraft": 100,
    "cifar100": 100,
    "daimlerpedcls": 2,
    "dtd": 47,
    "gtsrb": 43,
    "vgg-flowers": 102,
    "omniglot": 1623,
    "svhn": 10,
    "ucf101": 101,
}
NO_FLIP = ("gtsrb", "omniglot", "svhn")


class Decathlon(DataSource):
    """Visual Decathlon tasks as one `DataSource` with per-task splits.

    Args:
        tasks: Task names (see `TASKS`).
        data_dir: TFDS data dir (`format="tfds"`) or devkit root.
        format: "tfds" or "devkit".
        image_size: Side of the square images (72 in the reference).
        shuffle_buffer_size: Shuffle buffer of training streams.

    Example:
    ```python
    source = Decathlon(["aircraft", "svhn"], "/data/decathlon", "devkit")
    ds = make_dataset(source, "train/svhn", source.tasks, 64)
    ```

    Reference:
        Rebuffi et al., "Learning multiple visual domains with residual
        adapters", NeurIPS 2017; Newell et al., arXiv:1908.04339.
    """

    def __init__(
        self,
        tasks=TASKS[1:],
        data_dir=None,
        format="tfds",  # noqa: A002 - the layout's usual name
        image_size=72,
        shuffle_buffer_size=4096,
    ):
        unknown = [t for t in tasks if t not in NUM_CLASSES]
        if unknown:
            raise ValueError(
                f"Unknown Decathlon tasks {unknown}; known: {list(TASKS)}."
            )
        if format not in ("tfds", "devkit"):
            raise ValueError(f"format must be tfds or devkit, not {format!r}")
        if format == "devkit" and not data_dir:
            raise ValueError("The devkit format needs data_dir.")
        self.task_names = tuple(tasks)
        self.data_dir, self.format = data_dir, format
        self.image_size = int(image_size)
        self.shuffle_buffer_size = int(shuffle_buffer_size)
        self._files = {}

    @property
    def task_kinds(self):
        return {t: "classification" for t in self.task_names}

    @property
    def num_classes(self):
        return {t: NUM_CLASSES[t] for t in self.task_names}

    def _parse(self, split):
        base, _, task = split.partition("/")
        if base not in ("train", "validation", "test"):
            raise ValueError(
                f"Unknown Decathlon split {split!r}: use train, validation "
                "or test, optionally followed by /<task>."
            )
        if task and task not in self.task_names:
            raise ValueError(f"Split {split!r} names an unknown task.")
        return base, ((task,) if task else self.task_names)

    # -------------------------------------------------------------- devkit
    def _devkit(self, base, task):
        key = (base, task)
        if key not in self._files:
            # compat: the devkit names the validation split "val".
            name = "val" if base == "validation" else base
            path = os.path.join(
                self.data_dir, "annotations", f"{task}_{name}.json"
            )
            if not os.path.exists(path):
                raise DataNotFoundError(
                    f"Decathlon annotation file {path} not found; download "
                    "the devkit and images into data_dir "
                    "(annotations/ and data/)."
                )
            with open(path) as f:
                meta = json.load(f)
            categories = sorted(c["id"] for c in meta.get("categories", []))
            index = {c: i for i, c in enumerate(categories)}
            label_of = {
                a["image_id"]: index.get(a["category_id"], -1)
                for a in meta.get("annotations", [])
            }
            files, labels = [], []
            for image in meta["images"]:
                files.append(os.path.join(self.data_dir, image["file_name"]))
                labels.append(label_of.get(image["id"], -1))
            self._files[key] = (files, labels)
        return self._files[key]

    def _records(self, base, task, shuffle_seed):
        if self.format == "devkit":
            files, labels = self._devkit(base, task)
            ds = tf.data.Dataset.from_tensor_slices(
                (tf.constant(files, tf.string), tf.constant(labels, tf.int64))
            )
            if shuffle_seed is not None:
                ds = ds.shuffle(
                    len(files), seed=shuffle_seed, reshuffle_each_iteration=True
                )
            return ds.map(
                lambda f, y: (
                    tf.io.decode_image(
                        tf.io.read_file(f), channels=3, expand_animations=False
                    ),
                    y,
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        import tensorflow_datasets as tfds

        builder = tfds.builder(
            f"visual_domain_decathlon/{task}", data_dir=self.data_dir
        )
        try:
            ds = builder.as_dataset(
                split=base,
                shuffle_files=shuffle_seed is not None,
                read_config=tfds.ReadConfig(shuffle_seed=shuffle_seed),
            )
        except AssertionError as error:
            raise DataNotFoundError(
                f"TFDS 'visual_domain_decathlon/{task}' is not prepared; "
                "build it (`tfds build visual_domain_decathlon`, needs the "
                "manually downloaded devkit) or use format='devkit'."
            ) from error
        if shuffle_seed is not None:
            ds = ds.shuffle(
                self.shuffle_buffer_size,
                seed=shuffle_seed,
                reshuffle_each_iteration=True,
            )
        return ds.map(lambda r: (r["image"], r["label"]))

    def num_examples(self, split):
        base, tasks = self._parse(split)
        if self.format == "devkit":
            try:
                return sum(len(self._devkit(base, t)[0]) for t in tasks)
            except DataNotFoundError:
                return None
        return None

    # ------------------------------------------------------------- decode
    def _resize(self, image, train, flip):
        size = self.image_size
        image = tf.image.convert_image_dtype(image, tf.float32)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = size / tf.reduce_min(shape)
        new = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        image = tf.image.resize(image, new, method="bilinear")
        image = tf.image.resize_with_crop_or_pad(image, size, size)
        if train:
            image = tf.image.pad_to_bounding_box(
                image, 4, 4, size + 8, size + 8
            )
            image = tf.image.random_crop(image, [size, size, 3])
            if flip:
                image = tf.image.random_flip_left_right(image)
        image.set_shape([size, size, 3])
        return tf.clip_by_value(image, 0.0, 1.0)

    def _example(self, task, train):
        def fn(image, label):
            labels = {
                t: tf.cast(label if t == task else -1, tf.int32)
                for t in self.task_names
            }
            return {
                "image": self._resize(image, train, task not in NO_FLIP),
                "labels": labels,
            }

        return fn

    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        base, tasks = self._parse(split)
        train = shuffle_seed is not None and base == "train"
        parts = [
            self._records(base, t, shuffle_seed).map(
                self._example(t, train), num_parallel_calls=tf.data.AUTOTUNE
            )
            for t in tasks
        ]
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
        if len(parts) > 1 and shuffle_seed is not None:
            ds = ds.shuffle(self.shuffle_buffer_size, seed=shuffle_seed)
        if repeat:
            ds = ds.repeat()
        ds = ds.skip(skip)
        if shard is not None:
            ds = ds.shard(*shard)
        return ds


def masked_cross_entropy(labels, logits):
    """Softmax cross-entropy; labels outside [0, C) give zero loss."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    valid = (labels >= 0) & (labels < tf.shape(logits)[-1])
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    loss = losses.softmax_cross_entropy(safe, logits)
    return tf.where(valid, loss, tf.zeros_like(loss))


def decathlon_tasks(source, names=None, dropout=0.3):
    """Classification tasks of `source` whose loss skips other tasks' images.

    # compat: on the joint evaluation split, `loss/<task>` is averaged over
    # every image (other tasks' images count as zero loss); the accuracy
    # metrics count only the task's own images.

    Args:
        source: A `Decathlon`.
        names: Task names (default: all of the source's).
        dropout: Dropout before each head's classifier (reference 0.3).
    """
    from tfmtl.models.heads import ClassifierHead

    out = []
    for name in names or source.task_names:
        task = make_task(
            name,
            "classification",
            num_classes=NUM_CLASSES[name],
            head=lambda num_outputs: ClassifierHead(
                num_outputs, dropout=dropout
            ),
        )
        out.append(dataclasses.replace(task, loss=masked_cross_entropy))
    return out


def task_splits(tasks, split="train"):
    """`{task: "<split>/<task>"}`: per-task splits (or data streams)."""
    return {t: f"{split}/{t}" for t in tasks}


def stream_names(tasks):
    """`{task: task}`: the data stream of each task's training steps."""
    return {t: t for t in tasks}
