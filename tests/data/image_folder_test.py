"""Tests for tfmtl.data.ImageFolder on a generated class-folder tree."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.image_folder import ImageFolder


def write_image(path, value, size=(10, 12)):
    """Writes a constant-colour PNG (value in 0..255) and makes folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.full((*size, 3), value, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(pixels))


def make_tree(root, counts):
    """`counts[split][class]` images, colour = 10 * class + file index."""
    for split, classes in counts.items():
        for c, (name, n) in enumerate(sorted(classes.items())):
            for i in range(n):
                write_image(
                    os.path.join(root, split, name, f"{i}.png"), 10 * c + i
                )


def test_class_folders_become_labels(tmp_path):
    make_tree(
        tmp_path,
        {"train": {"cat": 2, "ant": 1, "dog": 3}, "test": {"dog": 1}},
    )
    (tmp_path / "train" / "notes.txt").write_text("not an image")
    source = ImageFolder(tmp_path, task="sketch", image_size=8)
    assert source.task_kinds == {"sketch": "classification"}
    assert source.classes == ["ant", "cat", "dog"] and source.num_classes == 3
    assert source.num_examples("train") == 6
    assert source.num_examples("validation") == 1  # test folder
    labels, colours = [], []
    for i in range(6):
        example = source.example(tf.constant(i, tf.int64), "train")
        assert example["image"].shape == (8, 8, 3)
        labels.append(int(example["labels"]["sketch"]))
        colours.append(round(float(example["image"][0, 0, 0]) * 255))
    assert labels == [0, 1, 1, 2, 2, 2]
    assert colours == [0, 10, 11, 20, 21, 22]
    test = source.example(tf.constant(0, tf.int64), "test")
    assert int(test["labels"]["sketch"]) == 2  # class index from train
    batch = next(iter(make_dataset(source, "train", None, 4)))
    assert batch["image"].shape == (4, 8, 8, 3)
    task = tasks_lib.tasks_for(source)[0]
    assert task.kind == "classification" and task.num_outputs == 3


def test_missing_folder_is_data_not_found(tmp_path):
    source = ImageFolder(tmp_path / "flowers")
    with pytest.raises(DataNotFoundError, match="flowers"):
        source.num_examples("train")
