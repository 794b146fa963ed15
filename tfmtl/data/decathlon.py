"""Visual Decathlon (Rebuffi et al. 2017) at 72 px, one task per data set.

Two layouts are read:

* `format="tfds"`: the TFDS build `visual_domain_decathlon/<task>` (features
  `image`, `label`; splits train / validation / test).
* `format="devkit"`: the devkit folder as downloaded, `data_dir` holding
  `annotations/<task>_<split>.json` (COCO style: `images` with `id` and
  `file_name` relative to `data_dir`, `annotations` with `image_id` and
  `category_id`, `categories`; the test split is `<task>_test_stripped`)
  and the image files. Category ids are mapped to 0..C-1 in sorted order.

Every task is its own data set, so splits are per task: `"<split>/<task>"`
(e.g. "train/aircraft"); `"<split>"` alone concatenates all tasks (for joint
evaluation). An example carries its own task's label and -1 for every other
task: the accuracy metrics skip labels outside [0, C) and the losses of
`decathlon_tasks` give them zero loss.

Preprocessing follows the reference (`tfmtl.data.decathlon_augment`):
images are resized so the shorter side is `image_size`; evaluation images
are center-cropped; training streams (read with a shuffle seed) are padded
by 4 px and randomly cropped, colour-jittered, flipped (not gtsrb, omniglot,
svhn, whose classes depend on orientation), and cut out. With
normalisation on, every image is standardised with its own data set's mean
and std (so images are no longer in [0, 1]). An example's random draws are
a pure function of `(seed, position in the training stream)`: a resumed
run, which skips the first positions, sees exactly the images an
uninterrupted run would have seen, and each epoch draws anew.

The task names, class counts and task helpers are in
`tfmtl.data.decathlon_tasks` (re-exported here), the two layouts'
readers in `tfmtl.data.decathlon_records`.
"""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data import decathlon_records as records
from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.decathlon_tasks import (
    DISTILLATION_REFERENCE,
    NO_FLIP,
    NUM_CLASSES,
    TASKS,
    decathlon_tasks,
    distillation_reference,
    masked_cross_entropy,
    stream_names,
    task_splits,
)
from tfmtl.data.file_errors import read_decoded

# The task helpers live in `decathlon_tasks`; gin configs name them
# `decathlon.<name>` (`from tfmtl.data import decathlon`).
__all__ = [
    "DISTILLATION_REFERENCE",
    "NO_FLIP",
    "NUM_CLASSES",
    "TASKS",
    "Decathlon",
    "decathlon_tasks",
    "distillation_reference",
    "masked_cross_entropy",
    "stream_names",
    "task_splits",
]


class Decathlon(DataSource):
    """Visual Decathlon tasks as one `DataSource` with per-task splits.

    Args:
        tasks: Task names (see `TASKS`).
        data_dir: TFDS data dir (`format="tfds"`) or devkit root.
        format: "tfds" or "devkit".
        image_size: Side of the square images (72 in the reference).
        shuffle_buffer_size: Shuffle buffer of TFDS training streams.
        normalize: Standardise each image with its data set's statistics.
        mean_std: The statistics: a dict `{task: (mean [3], std [3])}`, the
            path of a statistics file, or "auto": the first of
            `decathlon_augment.STATS_FILES` in `data_dir` that has every
            task (e.g. the reference's `decathlon_mean_ref.p`), else
            computed from up to `stats_examples` training images per task
            and cached in `data_dir/decathlon_mean_std.json` when writable.
        stats_examples: Images per task for computed statistics.
        augment: Augment training streams.
        color_jitter: Brightness, contrast, saturation, hue strengths
            (None: off).
        cutout: Side of the cut-out square (default `image_size // 4`; 0:
            off).

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
        normalize=True,
        mean_std="auto",
        stats_examples=1000,
        augment=True,
        color_jitter=(0.3, 0.3, 0.3, 0.1),
        cutout=None,
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
        self.normalize, self.mean_std = normalize, mean_std
        self.stats_examples = int(stats_examples)
        self.augment = augment
        self.color_jitter = None if not color_jitter else tuple(color_jitter)
        self.cutout = self.image_size // 4 if cutout is None else int(cutout)
        self._files, self._stats = {}, None

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

    # ------------------------------------------------------------- records
    def _devkit(self, base, task):
        """(files, labels) of one devkit split of `task`, cached."""
        key = (base, task)
        if key not in self._files:
            self._files[key] = records.devkit_files(self.data_dir, base, task)
        return self._files[key]

    def _devkit_records(self, base, tasks, seed, repeat, skip):
        files, labels, owners = [], [], []
        for task in tasks:
            f, y = self._devkit(base, task)
            files += f
            labels += y
            owners += [self.task_names.index(task)] * len(f)
        return records.devkit_records(files, labels, owners, seed, repeat, skip)

    def _tfds_records(self, base, tasks, seed, repeat, skip):
        owners = [self.task_names.index(task) for task in tasks]
        return records.tfds_records(
            self.data_dir,
            base,
            tasks,
            owners,
            seed,
            repeat,
            skip,
            self.shuffle_buffer_size,
        )

    def num_examples(self, split):
        base, tasks = self._parse(split)
        if self.format == "devkit":
            try:
                return sum(len(self._devkit(base, t)[0]) for t in tasks)
            except DataNotFoundError:
                return None
        return None

    # ---------------------------------------------------------- statistics
    def statistics(self):
        """`{task: (mean [3], std [3])}` used to normalise (see `mean_std`)."""
        if self._stats is None:
            self._stats = self._load_statistics()
        return self._stats

    def _load_statistics(self):
        from tfmtl.data import decathlon_augment as aug

        if isinstance(self.mean_std, dict):
            return {
                t: tuple(np.asarray(x, np.float32) for x in self.mean_std[t])
                for t in self.task_names
            }
        if isinstance(self.mean_std, str) and self.mean_std != "auto":
            stats = aug.read_stats(self.mean_std, self.task_names)
            if stats is None:
                raise ValueError(
                    f"{self.mean_std} lacks statistics of some of "
                    f"{list(self.task_names)}."
                )
            return stats
        stats = aug.find_stats(self.data_dir, self.task_names)
        if stats is not None:
            return stats
        stats = {}
        for task in self.task_names:
            ds = self._decoded(f"train/{task}", None, 0, False, None, False)
            ds = ds.take(self.stats_examples)
            stats[task] = aug.image_mean_std(
                example["image"].numpy() for example in ds
            )
        if self.data_dir and os.access(self.data_dir, os.W_OK):
            aug.write_stats(
                os.path.join(self.data_dir, aug.STATS_FILES[0]), stats
            )
        return stats

    # ------------------------------------------------------------- decode
    def _preprocess(self, image, owner, position, seed, train, normalize):
        from tfmtl.data import decathlon_augment as aug

        size = self.image_size
        image = tf.image.convert_image_dtype(image, tf.float32)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = size / tf.reduce_min(shape)
        new = tf.cast(tf.math.ceil(shape * scale - 1e-3), tf.int32)
        image = tf.image.resize(image, tf.maximum(new, size), "bilinear")
        image = tf.clip_by_value(image, 0.0, 1.0)
        if not train:
            image = tf.image.resize_with_crop_or_pad(image, size, size)
        else:
            seeds = tf.random.experimental.stateless_split(
                tf.stack([tf.constant(seed, tf.int64), position]), 4
            )
            image = aug.pad_and_crop(image, seeds[0], size)
            if self.color_jitter:
                image = aug.color_jitter(image, seeds[1], self.color_jitter)
            flips = tf.constant(
                [t not in NO_FLIP for t in self.task_names], tf.bool
            )
            image = tf.cond(
                flips[owner],
                lambda: aug.random_flip(image, seeds[2]),
                lambda: image,
            )
        image.set_shape([size, size, 3])
        if normalize:
            stats = self.statistics()
            means = np.stack([stats[t][0] for t in self.task_names])
            stds = np.stack([stats[t][1] for t in self.task_names])
            means, stds = tf.constant(means), tf.constant(stds)
            image = (image - means[owner]) / stds[owner]
        if train and self.cutout:
            image = aug.cutout(image, seeds[3], self.cutout)
        return image

    def _decoded(self, split, seed, skip, repeat, shard, normalize):
        base, tasks = self._parse(split)
        train = seed is not None and base == "train" and self.augment
        if self.format == "devkit":
            ds = self._devkit_records(base, tasks, seed, repeat, skip)
        else:
            ds = self._tfds_records(base, tasks, seed, repeat, skip)
        # Absolute stream positions (after skip) seed the augmentation.
        ds = tf.data.Dataset.zip(
            (tf.data.Dataset.range(skip, tf.int64.max), ds)
        )
        if shard is not None:
            ds = ds.shard(*shard)

        def example(position, record):
            image, label, owner = record
            if self.format == "devkit":
                image = read_decoded(
                    image,
                    lambda b: tf.io.decode_image(b, 3, expand_animations=False),
                )
            image = self._preprocess(
                image, owner, position, seed or 0, train, normalize
            )
            labels = {
                t: tf.where(
                    owner == i, tf.cast(label, tf.int32), tf.constant(-1)
                )
                for i, t in enumerate(self.task_names)
            }
            return {"image": image, "labels": labels}

        return ds.map(example, num_parallel_calls=tf.data.AUTOTUNE)

    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        self._parse(split)
        if self.normalize:
            self.statistics()  # computed on the host, before tracing
        return self._decoded(
            split, shuffle_seed, skip, repeat, shard, self.normalize
        )
