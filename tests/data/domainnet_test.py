"""Tests for tfmtl.data.DomainNet: folder layout and TFDS mock data."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.domainnet import IGNORE_LABEL, DomainNet
from tfmtl.methods.taps.joint import own_data_cross_entropy, own_data_tasks


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
    # Only the image's own domain task is labelled; the others are ignored.
    assert {k: int(v) for k, v in example["labels"].items()} == {
        "clipart": IGNORE_LABEL,
        "real": 1,
    }
    batch = next(iter(make_dataset(source, "clipart/train", ["clipart"], 2)))
    assert batch["image"].shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="sketch"):
        source.num_examples("sketch/train")


def _decoded(source, split):
    """(pixel value, labels) of every example of a split, in index order."""
    out = []
    for i in range(source.num_examples(split)):
        example = source.example(tf.constant(i, tf.int64), split)
        value = round(float(example["image"][0, 0, 0]) * 255)
        labels = {k: int(v) for k, v in example["labels"].items()}
        out.append((value, labels))
    return out


def test_multi_domain_splits_interleave_and_balance(tmp_path):
    _tree(tmp_path)
    # A third domain with a single training image.
    _write(os.path.join(tmp_path, "sketch", "train", "zebra", "0.png"), 250)
    _write(os.path.join(tmp_path, "sketch", "test", "zebra", "0.png"), 251)
    source = DomainNet(
        tmp_path, domains=("clipart", "real", "sketch"), image_size=4
    )
    # Pixel value 100 * domain + 10 * class + i (sketch: 250).
    values = [v for v, _ in _decoded(source, "train")]
    assert values == [0, 100, 250, 1, 101, 10, 110, 11, 111]
    for value, labels in _decoded(source, "train"):
        domain = {0: "clipart", 1: "real", 2: "sketch"}[value // 100]
        expected = {d: IGNORE_LABEL for d in source.domains}
        expected[domain] = 1 if value % 100 >= 10 else 0
        assert labels == expected, value
    # Balanced: every domain equally often; sketch's one image repeats.
    assert source.num_examples("balanced/train") == 3 * 4
    values = [v for v, _ in _decoded(source, "balanced/train")]
    assert values[2::3] == [250] * 4
    assert sorted(values[0::3]) == [0, 1, 10, 11]
    assert sorted(values[1::3]) == [100, 101, 110, 111]


def test_own_domain_loss_and_tasks(tmp_path):
    logits = tf.constant([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]])
    labels = tf.constant([0, IGNORE_LABEL, 1])
    expected = [np.log(1 + np.exp(-2.0)), 0.0, np.log(1 + np.exp(10.0))]
    np.testing.assert_allclose(
        own_data_cross_entropy(labels, logits), expected, rtol=1e-6
    )
    _tree(tmp_path)
    source = DomainNet(tmp_path, domains=("clipart", "real"), image_size=4)
    tasks = own_data_tasks(source)
    assert [t.name for t in tasks] == ["clipart", "real"]
    assert tasks[0].kind == "classification" and tasks[0].num_outputs == 2
    assert tasks[0].loss is own_data_cross_entropy
    # The error metric skips the ignored labels: 1 of 2 labelled is wrong.
    metric = tasks[0].metrics[0]
    stats = metric.statistics(tf.constant([0, 0, IGNORE_LABEL]), logits)
    assert metric.result(stats)["error"] == 0.5
    # Own-data loss: mean cross-entropy of the two labelled examples.
    own = tasks[0].metrics[-1]
    stats = own.statistics(tf.constant([0, 0, IGNORE_LABEL]), logits)
    np.testing.assert_allclose(
        own.result(stats)["loss"],
        (np.log(1 + np.exp(-2.0)) + np.log(1 + np.exp(1.0))) / 2,
        rtol=1e-6,
    )


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


def test_tfds_backend_interleaves_domains():
    source = DomainNet(domains=("sketch", "real"), image_size=8, backend="tfds")
    with tfds.testing.mock_data(num_examples=3):
        examples = list(source.read("test"))
        balanced = source.read("balanced/train", shuffle_seed=0)
        first = list(balanced.take(8))
    assert len(examples) == 6
    owners = [
        [k for k, v in e["labels"].items() if int(v) != IGNORE_LABEL]
        for e in examples
    ]
    assert owners == [["sketch"], ["real"]] * 3
    owners = [
        [k for k, v in e["labels"].items() if int(v) != IGNORE_LABEL]
        for e in first
    ]
    assert owners == [["sketch"], ["real"]] * 4


def test_tfds_missing_data(tmp_path):
    source = DomainNet(
        domains=("real",), backend="tfds", data_dir=str(tmp_path)
    )
    with pytest.raises(DataNotFoundError, match="tfds build domainnet/real"):
        source.read("train")
