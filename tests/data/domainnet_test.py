"""Tests for tfmtl.data.DomainNet: folder layout and TFDS mock data."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.domainnet import DomainNet


def _write(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.full((6, 6, 3), value, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(pixels))


def _tree(root):
    for d, domain in enumerate(("clipart", "real")):
        for split, n in (("train", 2), ("test", 1)):
            for c, name in enumerate(("apple", "zebra")):
                for i in range(n):
                    _write(
                        os.path.join(root, domain, split, name, f"{i}.png"),
                        100 * d + 10 * c + i,
                    )


def test_folder_layout_domains_are_tasks(tmp_path):
    _tree(tmp_path)
    source = DomainNet(tmp_path, domains=("clipart", "real"), image_size=4)
    assert source.task_kinds == {
        "clipart": "classification",
        "real": "classification",
    }
    assert source.indexable and source.num_classes == 2
    assert source.num_examples("real/train") == 4
    assert source.num_examples("train") == 8
    assert source.num_examples("clipart/validation") == 2
    example = source.example(tf.constant(3, tf.int64), "real/train")
    assert round(float(example["image"][0, 0, 0]) * 255) == 111
    # Every domain task carries the (shared) class label.
    assert {k: int(v) for k, v in example["labels"].items()} == {
        "clipart": 1,
        "real": 1,
    }
    batch = next(iter(make_dataset(source, "clipart/train", ["clipart"], 2)))
    assert batch["image"].shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="sketch"):
        source.num_examples("sketch/train")


def test_missing_domain_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="painting"):
        DomainNet(tmp_path, domains=("painting",)).num_examples("train")


def test_tfds_backend_on_mock_data():
    source = DomainNet(domains=("sketch",), image_size=8, backend="tfds")
    assert not source.indexable and source.num_classes == 345
    with tfds.testing.mock_data(num_examples=4):
        examples = list(source.read("sketch/train"))
        batch = next(iter(make_dataset(source, "train", ["sketch"], 2)))
    assert len(examples) == 4
    assert examples[0]["image"].shape == (8, 8, 3)
    assert examples[0]["labels"]["sketch"].dtype == tf.int32
    assert 0 <= int(examples[0]["labels"]["sketch"]) < 345
    assert batch["image"].shape == (2, 8, 8, 3)


def test_tfds_missing_data(tmp_path):
    source = DomainNet(
        domains=("real",), backend="tfds", data_dir=str(tmp_path)
    )
    with pytest.raises(DataNotFoundError, match="tfds build domainnet/real"):
        source.read("train")
