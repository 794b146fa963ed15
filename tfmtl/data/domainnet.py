"""DomainNet: 345 classes in six domains; one classification task per domain.

Two back ends:

* `"folder"`: the layout of the TAPS code's formatted copy,
  `<root>/<domain>/{train,test}/<class>/<image>`;
* `"tfds"`: TFDS `domainnet/<domain>` (prepare it once with
  `tfds build domainnet/<domain> --data_dir=...`; nothing is downloaded at
  run time).

Every example is labelled for every domain task with its class (the classes
are shared by all domains). A split is `"<domain>/<split>"` (that domain's
images) or `"<split>"` (all selected domains, concatenated), so sequential
TAPS reads one domain and joint runs can name one stream per domain.

Reference: Peng et al., "Moment Matching for Multi-Source Domain
Adaptation", ICCV 2019; Wallingford et al., "Task Adaptive Parameter Sharing
for Multi-Task Learning", CVPR 2022 (DomainNet benchmarks).
"""

import os

import tensorflow as tf

from tfmtl.data import image_folder
from tfmtl.data.data_source import DataNotFoundError, DataSource

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
NUM_CLASSES = 345


class DomainNet(DataSource):
    """DomainNet domains as classification tasks named after the domains.

    Args:
        root: folder-layout root (`<root>/<domain>/<split>/<class>/...`);
            used by the `"folder"` back end.
        domains: the domains served (task names).
        image_size: side of the square output images.
        backend: `"folder"` or `"tfds"`.
        data_dir: TFDS data directory (`"tfds"` back end).

    Example:

    ```python
    source = DomainNet("/data/DomainNet", domains=("real",))
    ds = tfmtl.data.make_dataset(source, "real/train", ["real"], 32)
    ```

    Reference:
        /work/shared/reference/adashare_taps.md, B2.
    """

    def __init__(
        self,
        root=None,
        domains=("real",),
        image_size=224,
        backend="folder",
        data_dir=None,
    ):
        unknown = [d for d in domains if d not in DOMAINS]
        if unknown:
            raise ValueError(f"Unknown domains {unknown}; known: {DOMAINS}.")
        if backend not in ("folder", "tfds"):
            raise ValueError(f"backend must be 'folder' or 'tfds': {backend!r}")
        if backend == "folder" and not root:
            raise ValueError("DomainNet(backend='folder') needs root=.")
        self.root = root
        self.domains = tuple(domains)
        self.image_size = int(image_size)
        self.backend = backend
        self.data_dir = data_dir
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
        domain, _, name = split.rpartition("/")
        if name == "validation":
            # compat: DomainNet (and TAPS) have only train and test.
            name = "test"
        if name not in ("train", "test"):
            raise ValueError(f"Unknown DomainNet split {split!r}.")
        if domain and domain not in self.domains:
            raise ValueError(
                f"Split {split!r} names a domain outside {self.domains}."
            )
        return ((domain,) if domain else self.domains), name

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
        if split not in self._files:
            domains, name = self._parts(split)
            paths, labels = [], []
            for domain in domains:
                folder = os.path.join(self.root, domain, name)
                if not tf.io.gfile.isdir(folder):
                    raise DataNotFoundError(f"No DomainNet folder {folder}.")
                p, y = image_folder.list_images(folder, self.classes)
                paths += p
                labels += y
            self._files[split] = (paths, labels)
        return self._files[split]

    def num_examples(self, split):
        if self.backend == "tfds":
            return None
        return len(self._split_files(split)[0])

    def _example(self, image, label):
        label = tf.cast(label, tf.int32)
        return {
            "image": image,
            "labels": {domain: label for domain in self.domains},
        }

    def example(self, index, split):
        paths, labels = self._split_files(split)
        path = tf.gather(tf.constant(paths), index)
        return self._example(
            image_folder.decode_resize(path, self.image_size),
            tf.gather(tf.constant(labels), index),
        )

    # ----------------------------------------------------------------- TFDS
    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        import tensorflow_datasets as tfds

        domains, name = self._parts(split)
        datasets = []
        for domain in domains:
            builder = tfds.builder(
                f"domainnet/{domain}", data_dir=self.data_dir, try_gcs=False
            )
            try:
                datasets.append(
                    builder.as_dataset(
                        split=name,
                        shuffle_files=shuffle_seed is not None,
                        decoders={"image": tfds.decode.SkipDecoding()},
                        read_config=tfds.ReadConfig(
                            shuffle_seed=shuffle_seed, try_autocache=False
                        ),
                    )
                )
            except AssertionError as error:
                raise DataNotFoundError(
                    f"TFDS 'domainnet/{domain}' is not prepared in "
                    f"{builder.data_dir_root}; prepare it with `tfds build "
                    f"domainnet/{domain} --data_dir={builder.data_dir_root}`."
                ) from error
        ds = datasets[0]
        for other in datasets[1:]:
            ds = ds.concatenate(other)
        if shuffle_seed is not None:
            ds = ds.shuffle(
                10_000, seed=shuffle_seed, reshuffle_each_iteration=True
            )
        if repeat:
            ds = ds.repeat()
        ds = ds.skip(skip)
        if shard is not None:
            ds = ds.shard(*shard)

        def decode(record):
            image = tf.io.decode_image(
                record["image"], channels=3, expand_animations=False
            )
            image = tf.image.convert_image_dtype(image, tf.float32)
            image = tf.image.resize(image, [self.image_size] * 2)
            image.set_shape([self.image_size, self.image_size, 3])
            return self._example(
                tf.clip_by_value(image, 0.0, 1.0), record["label"]
            )

        return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
