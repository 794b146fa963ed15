"""CelebA attributes from TFDS `celeb_a`, preprocessed as in TAG's experiments.

Reference: Fifty et al., "Efficiently Identifying Task Groupings for
Multi-Task Learning", NeurIPS 2021 (the `tag/celeba` notebook's input).
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from tfmtl.data.data_source import DataNotFoundError, DataSource

# The nine attributes of TAG's CelebA experiments.
TAG_ATTRIBUTES = (
    "5_o_Clock_Shadow",
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Goatee",
    "Mustache",
    "No_Beard",
    "Rosy_Cheeks",
    "Wearing_Hat",
)
# The official partition (hard-coded in TAG as well).
SPLIT_SIZES = {"train": 162_770, "validation": 19_867, "test": 19_962}


class CelebA(DataSource):
    """CelebA face attributes, one `binary` task per attribute.

    Images are decoded, converted to float32 in [0, 1] and resized to
    `image_size` x `image_size` with bilinear interpolation, without
    cropping (the 218 x 178 faces are squeezed), no augmentation and no
    normalisation. Labels are int32 0/1; task names are the attribute names.

    CelebA is read from TFDS record files, so it is not indexable: `read`
    shuffles and skips the stream of *encoded* records (`Dataset.skip` before
    decoding; JPEG decoding is skipped via `tfds.decode.SkipDecoding` until
    after `skip` and `shard`). Files are shuffled with the TFDS read seed and
    records with a buffer (the full split by default, as in TAG) that is
    reshuffled each epoch, both seeded, so the order is a pure function of
    the seed. Nothing is downloaded: when the prepared data is missing,
    `read` raises `DataNotFoundError`.

    Args:
        attributes: names of the CelebA attributes to expose as tasks
            (default: the nine of TAG).
        image_size: side of the square output images.
        data_dir: TFDS data directory (None: the TFDS default,
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        shuffle_buffer_size: record shuffle buffer (None: the whole split).

    Example:

    ```python
    source = CelebA(data_dir="/data/tfds")
    ds = tfmtl.data.make_dataset(source, "train", None, 256)
    ```

    Reference:
        TAG (Fifty et al., NeurIPS 2021), `tag/celeba/CelebA.ipynb` in
        github.com/google-research/google-research: the official TFDS
        splits, 64x64 bilinear resize, no augmentation, 9 attributes.
    """

    def __init__(
        self,
        attributes=TAG_ATTRIBUTES,
        image_size=64,
        data_dir=None,
        shuffle_buffer_size=None,
    ):
        self.attributes = tuple(attributes)
        self.image_size = image_size
        self.data_dir = data_dir
        self.shuffle_buffer_size = shuffle_buffer_size

    @property
    def task_kinds(self):
        return {name: "binary" for name in self.attributes}

    def num_examples(self, split):
        # compat: the official sizes, as TAG hard-codes them; a sliced or
        # mocked split has a different size.
        return SPLIT_SIZES.get(split)

    def _records(self, split, shuffle_seed):
        builder = tfds.builder("celeb_a", data_dir=self.data_dir, try_gcs=False)
        known = builder.info.features["attributes"].keys()
        unknown = [name for name in self.attributes if name not in known]
        if unknown:
            raise ValueError(
                f"Unknown CelebA attributes {unknown}; known: {sorted(known)}."
            )
        read_config = tfds.ReadConfig(
            shuffle_seed=shuffle_seed,
            shuffle_reshuffle_each_iteration=True,
            try_autocache=False,
        )
        try:
            return builder.as_dataset(
                split=split,
                shuffle_files=shuffle_seed is not None,
                decoders={"image": tfds.decode.SkipDecoding()},
                read_config=read_config,
            )
        except AssertionError as error:  # TFDS: "could not find data in ..."
            raise DataNotFoundError(
                f"CelebA (TFDS 'celeb_a') is not prepared in "
                f"{builder.data_dir_root}; prepare it with `tfds build "
                f"celeb_a --data_dir={builder.data_dir_root}` (downloads "
                f"about 1.4 GB) or pass data_dir= where it is prepared."
            ) from error

    def _decode(self, record):
        image = tf.io.decode_image(
            record["image"], channels=3, expand_animations=False
        )
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.image.resize(
            image, [self.image_size, self.image_size], method="bilinear"
        )
        image.set_shape([self.image_size, self.image_size, 3])
        attributes = record["attributes"]
        labels = {
            name: tf.cast(attributes[name], tf.int32)
            for name in self.attributes
        }
        return {"image": tf.clip_by_value(image, 0.0, 1.0), "labels": labels}

    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        ds = self._records(split, shuffle_seed)
        if shuffle_seed is not None:
            buffer = self.shuffle_buffer_size or SPLIT_SIZES.get(split, 10_000)
            ds = ds.shuffle(
                buffer, seed=shuffle_seed, reshuffle_each_iteration=True
            )
        if repeat:
            ds = ds.repeat()
        ds = ds.skip(skip)
        if shard is not None:
            ds = ds.shard(*shard)
        return ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE)
