"""DomainNet: 345 classes in six domains; one classification task per domain.

Two back ends:

* `"folder"`: the layout of the TAPS code's formatted copy,
  `<root>/<domain>/{train,test}/<class>/<image>`;
* `"tfds"`: TFDS `domainnet/<domain>` (prepare it once with
  `tfds build domainnet/<domain> --data_dir=...`; nothing is downloaded at
  run time).

Each domain is one classification task (the 345 classes are shared). An
example is labelled with its class for its own domain's task and with
`IGNORE_LABEL` (-1) for every other domain's task, so in a multi-domain run
each task trains and is evaluated on its own domain only: the
classification metrics skip the -1 labels (per-task validation error is the
error on that task's domain) and the loss of
`tfmtl.methods.taps.joint.own_data_tasks` gives them zero loss.

Splits: `"<domain>/<split>"` (that domain's images), `"<split>"` (all
selected domains, interleaved one example per domain in turn, so any prefix
covers every domain) and `"balanced/<split>"` (each domain equally often,
like the reference's per-domain batches: an epoch is `len(domains)` times
the largest domain, smaller domains repeat).

Reference: Peng et al., "Moment Matching for Multi-Source Domain
Adaptation", ICCV 2019; Wallingford et al., "Task Adaptive Parameter Sharing
for Multi-Task Learning", CVPR 2022 (DomainNet benchmarks).
"""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data import image_folder
from tfmtl.data.data_source import DataNotFoundError, DataSource

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
NUM_CLASSES = 345
# Training images per domain: the line counts of the official split files
# `<domain>_train.txt` of the cleaned DomainNet (ai.bu.edu/M3SDA), as the
# TFDS catalog `domainnet/<domain>` lists them (train split). The test
# splits hold 14604, 15582, 21850, 51750, 52041 and 20916 images.
TRAIN_SIZES = {
    "clipart": 33525,
    "infograph": 36023,
    "painting": 50416,
    "quickdraw": 120750,
    "real": 120906,
    "sketch": 48212,
}
# Label of an example for the tasks of the other domains.
IGNORE_LABEL = -1


def train_sizes(domains):
    """Official training-set sizes of `domains` (`TRAIN_SIZES`), a list."""
    unknown = [d for d in domains if d not in TRAIN_SIZES]
    if unknown:
        raise ValueError(f"Unknown domains {unknown}; known: {DOMAINS}.")
    return [TRAIN_SIZES[d] for d in domains]


class DomainNet(DataSource):
    """DomainNet domains as classification tasks named after the domains.

    Args:
        root: folder-layout root (`<root>/<domain>/<split>/<class>/...`);
            used by the `"folder"` back end.
        domains: the domains served (task names).
        image_size: side of the square output images.
        backend: `"folder"` or `"tfds"`.
        data_dir: TFDS data directory (`"tfds"` back end).
        augment: None (plain resize, [0, 1]) or, folder back end only, the
            TAPS transforms with ImageNet normalisation (`"crop"` or
            `"resize"`, as `tfmtl.data.ImageFolder`): random in the `train`
            splits, deterministic in the others.
        seed: seed of the training draws.
        variants: draws per image in a training split: example `i` is
            entry `i mod N` of the split under the draw seeded by
            `(seed, i)` (resumable, as `tfmtl.data.ImageFolder`).

    Example:

    ```python
    source = DomainNet("/data/DomainNet", domains=("real",))
    ds = tfmtl.data.make_dataset(source, "real/train", ["real"], 32)
    ```

    Reference:
        DomainNet (Peng et al., ICCV 2019) in the layout TAPS uses
        (github.com/MattWallingford/TAPS):
        `DomainNet/{clipart,infograph,painting,quickdraw,real,sketch}/`
        `{train,test}/<class>/`, 345 classes per domain.
    """

    def __init__(
        self,
        root=None,
        domains=("real",),
        image_size=224,
        backend="folder",
        data_dir=None,
        augment=None,
        seed=0,
        variants=1,
    ):
        unknown = [d for d in domains if d not in DOMAINS]
        if unknown:
            raise ValueError(f"Unknown domains {unknown}; known: {DOMAINS}.")
        if backend not in ("folder", "tfds"):
            raise ValueError(f"backend must be 'folder' or 'tfds': {backend!r}")
        if backend == "folder" and not root:
            raise ValueError("DomainNet(backend='folder') needs root=.")
        image_folder.check_augment(augment, variants)
        if augment is not None and backend != "folder":
            raise ValueError(f"augment={augment!r} needs backend='folder'.")
        self.root = root
        self.domains = tuple(domains)
        self.image_size = int(image_size)
        self.backend = backend
        self.data_dir = data_dir
        self.augment = augment
        self.seed, self.variants = int(seed), int(variants)
        self._classes = None
        self._files = {}

    @property
    def task_kinds(self):
        return {domain: "classification" for domain in self.domains}

    @property
    def num_classes(self):
        if self.backend == "tfds":
            return NUM_CLASSES
        return len(self.classes)

    @property
    def indexable(self):
        return self.backend == "folder"

    # -------------------------------------------------------------- splits
    def _parts(self, split):
        """`(domains, folder split name, balanced)` of a split name."""
        domain, _, name = split.rpartition("/")
        balanced = domain == "balanced"
        if balanced:
            domain = ""
        if name == "validation":
            # compat: DomainNet (and TAPS) have only train and test.
            name = "test"
        if name not in ("train", "test"):
            raise ValueError(f"Unknown DomainNet split {split!r}.")
        if domain and domain not in self.domains:
            raise ValueError(
                f"Split {split!r} names a domain outside {self.domains}."
            )
        return ((domain,) if domain else self.domains), name, balanced

    # -------------------------------------------------------------- folders
    @property
    def classes(self):
        """Sorted class names (folder back end)."""
        if self._classes is None:
            names = set()
            for domain in self.domains:
                train = os.path.join(self.root, domain, "train")
                if not tf.io.gfile.isdir(train):
                    raise DataNotFoundError(
                        f"DomainNet domain {domain!r} not found at {train}; "
                        "download DomainNet and lay it out as "
                        "<root>/<domain>/{train,test}/<class>/<image>, or use "
                        "backend='tfds'."
                    )
                names.update(image_folder.list_class_folders(train))
            self._classes = sorted(names)
        return self._classes

    def _split_files(self, split):
        """`(paths, labels, domain indices, index map)` of a split.

        Example `i` of the split is entry `index_map[i]` of the tables.
        """
        if split not in self._files:
            domains, name, balanced = self._parts(split)
            tables = []
            for domain in domains:
                folder = os.path.join(self.root, domain, name)
                if not tf.io.gfile.isdir(folder):
                    raise DataNotFoundError(f"No DomainNet folder {folder}.")
                tables.append(image_folder.list_images(folder, self.classes))
            sizes = np.array([len(p) for p, _ in tables], np.int64)
            if not sizes.all():
                raise DataNotFoundError(f"A domain of {split!r} has no image.")
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            ids = [self.domains.index(d) for d in domains]
            paths = [p for table, _ in tables for p in table]
            labels = [y for _, table in tables for y in table]
            owner = np.repeat(ids, sizes)
            if balanced:
                # Example i: domain i mod T, its image (i div T) mod size.
                i = np.arange(len(domains) * sizes.max())
                d = i % len(domains)
                index_map = offsets[d] + (i // len(domains)) % sizes[d]
            else:
                # Round robin over the domains while they last.
                position = np.concatenate([np.arange(n) for n in sizes])
                index_map = np.lexsort((owner, position))
            self._files[split] = (paths, labels, owner, index_map)
        return self._files[split]

    def _drawn(self, split):
        return self.augment is not None and self._parts(split)[1] == "train"

    def num_examples(self, split):
        if self.backend == "tfds":
            return None
        count = len(self._split_files(split)[3])
        return count * self.variants if self._drawn(split) else count

    def _example(self, image, label, domain):
        label = tf.cast(label, tf.int32)
        ignore = tf.constant(IGNORE_LABEL, tf.int32)
        return {
            "image": image,
            "labels": {
                name: tf.where(tf.equal(domain, d), label, ignore)
                for d, name in enumerate(self.domains)
            },
        }

    def example(self, index, split):
        paths, labels, owner, index_map = self._split_files(split)
        index = tf.cast(index, tf.int64)
        seed = tf.stack([tf.constant(self.seed, tf.int64), index])
        drawn = self._drawn(split)
        if drawn:
            index = index % len(index_map)
        entry = tf.gather(tf.constant(index_map, tf.int64), index)
        return self._example(
            image_folder.load_image(
                tf.gather(tf.constant(paths), entry),
                self.image_size,
                self.augment,
                drawn,
                seed,
            ),
            tf.gather(tf.constant(labels, tf.int32), entry),
            tf.gather(tf.constant(owner, tf.int32), entry),
        )

    # ----------------------------------------------------------------- TFDS
    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        import tensorflow_datasets as tfds

        domains, name, balanced = self._parts(split)
        datasets = []
        for domain in domains:
            builder = tfds.builder(
                f"domainnet/{domain}", data_dir=self.data_dir, try_gcs=False
            )
            try:
                ds = builder.as_dataset(
                    split=name,
                    shuffle_files=shuffle_seed is not None,
                    decoders={"image": tfds.decode.SkipDecoding()},
                    read_config=tfds.ReadConfig(
                        shuffle_seed=shuffle_seed, try_autocache=False
                    ),
                )
            except AssertionError as error:
                raise DataNotFoundError(
                    f"TFDS 'domainnet/{domain}' is not prepared in "
                    f"{builder.data_dir_root}; prepare it with `tfds build "
                    f"domainnet/{domain} --data_dir={builder.data_dir_root}`."
                ) from error
            owner = self.domains.index(domain)
            if shuffle_seed is not None:
                ds = ds.shuffle(
                    10_000, seed=shuffle_seed, reshuffle_each_iteration=True
                )
            if repeat or balanced:
                ds = ds.repeat()
            datasets.append(
                ds.map(lambda r, d=owner: (r["image"], r["label"], d))
            )
        # One example per domain in turn (balanced: forever; otherwise while
        # the domains last).
        order = tf.data.Dataset.range(len(datasets)).repeat()
        ds = tf.data.Dataset.choose_from_datasets(
            datasets, order, stop_on_empty_dataset=False
        )
        ds = ds.skip(skip)
        if shard is not None:
            ds = ds.shard(*shard)

        def decode(image, label, domain):
            image = tf.io.decode_image(
                image, channels=3, expand_animations=False
            )
            image = tf.image.convert_image_dtype(image, tf.float32)
            image = tf.image.resize(image, [self.image_size] * 2)
            image.set_shape([self.image_size, self.image_size, 3])
            return self._example(
                tf.clip_by_value(image, 0.0, 1.0), label, domain
            )

        return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
