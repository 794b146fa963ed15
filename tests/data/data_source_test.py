"""Tests for tfmtl.data.DataSource and DataNotFoundError."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataNotFoundError, DataSource


class _Squares(DataSource):
    task_kinds = {"square": "regression", "odd": "binary"}

    def num_examples(self, split):
        return 5

    def example(self, index, split):
        value = tf.cast(index * index, tf.float32)
        return {
            "image": tf.fill([1, 1, 3], value),
            "labels": {"square": value, "odd": tf.cast(index % 2, tf.int32)},
        }


class _Stream(DataSource):
    task_kinds = {"odd": "binary"}

    def num_examples(self, split):
        return None

    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        return tf.data.Dataset.range(skip, 10)


def test_make_examples_maps_example_in_index_order():
    source = _Squares()
    assert source.tasks == ("square", "odd") and source.indexable
    indices = tf.data.Dataset.from_tensor_slices(
        tf.constant([3, 0, 4, 1], tf.int64)
    )
    examples = list(source.make_examples(indices, "train"))
    squares = [float(e["labels"]["square"]) for e in examples]
    assert squares == [9.0, 0.0, 16.0, 1.0]
    assert [int(e["labels"]["odd"]) for e in examples] == [1, 0, 0, 1]
    np.testing.assert_array_equal(examples[0]["image"], np.full([1, 1, 3], 9))


def test_read_sources_are_not_indexable():
    assert not _Stream().indexable
    with pytest.raises(NotImplementedError):
        _Squares().read("train")
    with pytest.raises(NotImplementedError):
        _Stream().example(tf.constant(0, tf.int64), "train")


def test_data_not_found_is_a_file_not_found_error():
    error = DataNotFoundError("no data in /x; run `make data`")
    assert isinstance(error, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="no data in /x"):
        raise error
