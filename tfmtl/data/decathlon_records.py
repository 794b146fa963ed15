"""Reads the records of Visual Decathlon splits from either layout.

A record is `(image, label, task index)`: for the devkit layout the image
is the path of its file (decoded later), for TFDS the decoded image. Both
readers shuffle (when given a seed), repeat and skip, so that a stream's
positions are those of `tfmtl.data.decathlon.Decathlon`.
"""

import json
import os

import tensorflow as tf

from tfmtl.data.data_source import DataNotFoundError


def annotation_file(data_dir, base, task):
    """The devkit annotation file of split `base` of `task`.

    Raises:
        DataNotFoundError: no such file.
    """
    # compat: the devkit names the splits "val" and "test_stripped".
    names = {"validation": ["val"], "test": ["test_stripped", "test"]}
    for name in names.get(base, [base]):
        path = os.path.join(data_dir, "annotations", f"{task}_{name}.json")
        if os.path.exists(path):
            return path
    raise DataNotFoundError(
        f"Decathlon annotation file {path} not found; download the "
        "devkit and images into data_dir (annotations/ and data/)."
    )


def devkit_files(data_dir, base, task):
    """`(files, labels)` of a devkit split; category ids map to 0..C-1.

    Images without an annotation (the stripped test split) get label -1.
    """
    with open(annotation_file(data_dir, base, task)) as f:
        meta = json.load(f)
    categories = sorted(c["id"] for c in meta.get("categories", []))
    index = {c: i for i, c in enumerate(categories)}
    label_of = {
        a["image_id"]: index.get(a["category_id"], -1)
        for a in meta.get("annotations", [])
    }
    files, labels = [], []
    for image in meta["images"]:
        files.append(os.path.join(data_dir, image["file_name"]))
        labels.append(label_of.get(image["id"], -1))
    return files, labels


def devkit_records(files, labels, owners, seed, repeat, skip):
    """(file, label, task index) after a stateless shuffle and skip.

    Args:
        files: image paths.
        labels: int label of each file.
        owners: task index of each file.
        seed: shuffle seed, or None for the stored order.
        repeat: bool, repeat forever (reshuffled each epoch).
        skip: number of leading records to drop.
    """
    from tfmtl.data.pipeline import _index_stream

    table = (
        tf.constant(files, tf.string),
        tf.constant(labels, tf.int64),
        tf.constant(owners, tf.int64),
    )
    indices = _index_stream(
        len(files),
        shuffle=seed is not None,
        seed=seed or 0,
        repeat=repeat,
        skip=skip,
    )
    return indices.map(
        lambda i: (
            table[0][i],
            table[1][i],
            table[2][i],
        )
    )


def tfds_records(
    data_dir, base, tasks, owners, seed, repeat, skip, shuffle_buffer_size
):
    """(image, label, task index) records; shuffled, repeated, skipped.

    Args:
        data_dir: TFDS data dir.
        base: split name ("train", "validation" or "test").
        tasks: task names, read in order and concatenated.
        owners: the task index of each of `tasks`.
        seed: shuffle seed, or None for the stored order.
        repeat: bool, repeat forever.
        skip: number of leading records to drop.
        shuffle_buffer_size: int, shuffle buffer (with a seed).

    Raises:
        DataNotFoundError: when a task's TFDS build is not prepared.
    """
    import tensorflow_datasets as tfds

    parts = []
    for task, owner in zip(tasks, owners):
        builder = tfds.builder(
            f"visual_domain_decathlon/{task}", data_dir=data_dir
        )
        try:
            ds = builder.as_dataset(
                split=base,
                shuffle_files=seed is not None,
                read_config=tfds.ReadConfig(shuffle_seed=seed),
            )
        except AssertionError as error:
            raise DataNotFoundError(
                f"TFDS 'visual_domain_decathlon/{task}' is not prepared; "
                "build it (`tfds build visual_domain_decathlon`, needs "
                "the manually downloaded devkit) or use format='devkit'."
            ) from error
        parts.append(ds.map(lambda r, o=owner: (r["image"], r["label"], o)))
    ds = parts[0]
    for part in parts[1:]:
        ds = ds.concatenate(part)
    if seed is not None:
        ds = ds.shuffle(
            shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        ds = ds.repeat()
    return ds.skip(skip)
