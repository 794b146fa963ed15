"""Tests for tfmtl.data.CelebA (on TFDS mock data; nothing is downloaded)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmtl.data import CelebA, DataNotFoundError, make_dataset
from tfmtl.data.celeba import TAG_ATTRIBUTES

_COUNT = 6


def _numpy(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy(), e) for e in dataset]


def _raw():
    """The mocked records in file order, with the encoded image bytes."""
    return _numpy(
        tfds.load(
            "celeb_a",
            split="train",
            data_dir="/unused",
            decoders={"image": tfds.decode.SkipDecoding()},
        )
    )


def test_examples_match_raw_records():
    source = CelebA(image_size=16)
    assert source.tasks == TAG_ATTRIBUTES and not source.indexable
    assert set(source.task_kinds.values()) == {"binary"}
    assert source.num_examples("train") == 162_770
    with tfds.testing.mock_data(num_examples=_COUNT):
        raw = _raw()
        examples = _numpy(source.read("train"))
    assert len(examples) == _COUNT
    for record, example in zip(raw, examples):
        assert example["image"].shape == (16, 16, 3)
        assert example["image"].dtype == np.float32
        pixels = tf.io.decode_jpeg(record["image"]).numpy()
        assert pixels.shape == (218, 178, 3)
        expected = tf.image.resize(pixels / 255.0, [16, 16])
        np.testing.assert_allclose(example["image"], expected, atol=1e-5)
        assert list(example["labels"]) == list(TAG_ATTRIBUTES)
        for name in TAG_ATTRIBUTES:
            label = example["labels"][name]
            assert label.dtype == np.int32
            assert label == int(record["attributes"][name])


def test_skip_and_shard_on_the_record_stream():
    source = CelebA(attributes=("Goatee",), image_size=8)
    with tfds.testing.mock_data(num_examples=_COUNT):
        full = _numpy(source.read("train", repeat=True).take(10))
        skipped = _numpy(source.read("train", skip=4, repeat=True).take(6))
        shard = _numpy(source.read("train", skip=1, shard=(2, 1)))
    for a, b in zip(full[4:], skipped):
        np.testing.assert_array_equal(a["image"], b["image"])
    assert len(shard) == 2  # records 1..5 remain; shard 1 of 2 keeps 2, 4
    for a, b in zip(full[2::2], shard):
        np.testing.assert_array_equal(a["image"], b["image"])


def test_pipeline_resume_with_shuffle():
    source = CelebA(attributes=("Black_Hair", "Wearing_Hat"), image_size=8)
    with tfds.testing.mock_data(num_examples=_COUNT):
        fresh = _numpy(
            make_dataset(source, "validation", ["Wearing_Hat"], 2, seed=3).take(
                9
            )
        )
        again = _numpy(
            make_dataset(source, "validation", ["Wearing_Hat"], 2, seed=3).take(
                9
            )
        )
        resumed = _numpy(
            make_dataset(
                source, "validation", ["Wearing_Hat"], 2, seed=3, start_step=4
            ).take(5)
        )
    assert list(fresh[0]["labels"]) == ["Wearing_Hat"]
    assert fresh[0]["image"].shape == (2, 8, 8, 3)
    for a, b in zip(fresh, again):
        np.testing.assert_array_equal(a["image"], b["image"])
    for a, b in zip(fresh[4:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])
    epochs = np.stack([b["image"] for b in fresh[:6]]).reshape(2, 6, -1)
    # Each epoch holds the 6 records, in a different order.
    assert sorted(map(bytes, epochs[0])) == sorted(map(bytes, epochs[1]))
    assert not np.array_equal(epochs[0], epochs[1])


def test_missing_data_raises_data_not_found(tmp_path):
    source = CelebA(data_dir=str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        source.read("train")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path) in message and "tfds build celeb_a" in message
    assert "\n" not in message
    assert not any(tmp_path.iterdir())  # nothing was downloaded


def test_unknown_attribute():
    with pytest.raises(ValueError, match="Smiling_Broadly"):
        CelebA(attributes=("Smiling_Broadly",)).read("train")
