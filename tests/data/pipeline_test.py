"""Tests for tfmtl.data.pipeline.make_dataset."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataSource, SyntheticScenes, make_dataset


class _Counter(DataSource):
    """Example i has image value i and labels `id` = i, `parity` = i % 2."""

    task_kinds = {"id": "classification", "parity": "binary"}

    def __init__(self, size=10):
        self.size = size

    def num_examples(self, split):
        return self.size

    def example(self, index, split):
        value = tf.cast(index, tf.float32)
        return {
            "image": tf.fill([2, 2, 3], value),
            "labels": {
                "id": tf.cast(index, tf.int32),
                "parity": tf.cast(index % 2, tf.int32),
            },
        }


def _ids(dataset, num_batches):
    batches = list(dataset.take(num_batches))
    assert len(batches) == num_batches
    return np.stack([b["labels"]["id"].numpy() for b in batches])


def test_resume_equals_later_batches_of_fresh_pipeline():
    source = _Counter(10)
    fresh = _ids(make_dataset(source, "train", None, 4, seed=3), 12)
    for start in (1, 2, 3, 5, 7):  # also across epoch boundaries
        resumed = make_dataset(
            source, "train", None, 4, seed=3, start_step=start
        )
        np.testing.assert_array_equal(_ids(resumed, 12 - start), fresh[start:])


def test_resume_skips_on_index_stream_without_decoding():
    calls = []

    class Spy(_Counter):
        def make_examples(self, index_ds, split):
            calls.append(index_ds)
            return super().make_examples(index_ds, split)

    dataset = make_dataset(Spy(10), "train", None, 2, seed=0, start_step=4)
    first = list(calls[0].take(3).as_numpy_iterator())
    fresh = list(
        make_dataset(_Counter(10), "train", None, 2, seed=0)
        .unbatch()
        .map(lambda e: e["labels"]["id"])
        .take(11)
        .as_numpy_iterator()
    )
    # The index stream handed to the source already starts at example 8.
    np.testing.assert_array_equal(first, fresh[8:11])
    assert next(iter(dataset))["labels"]["id"].numpy().tolist() == fresh[8:10]


def test_each_epoch_is_a_permutation_and_epochs_differ():
    ids = _ids(make_dataset(_Counter(12), "train", None, 4, seed=1), 9)
    epochs = ids.reshape(3, 12)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(12))
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(12))


def test_seed_determines_order():
    source = _Counter(12)
    a = _ids(make_dataset(source, "train", None, 4, seed=5), 6)
    b = _ids(make_dataset(source, "train", None, 4, seed=5), 6)
    c = _ids(make_dataset(source, "train", None, 4, seed=6), 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_no_shuffle_no_repeat_keeps_order_and_remainder():
    dataset = make_dataset(
        _Counter(10),
        "test",
        None,
        4,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
    )
    ids = [b["labels"]["id"].numpy().tolist() for b in dataset]
    assert ids == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dataset = make_dataset(_Counter(10), "test", None, 4, repeat=False)
    assert len(list(dataset)) == 2  # drop_remainder by default


def test_synthetic_pipeline_is_deterministic_across_builds():
    source = SyntheticScenes(image_size=16, num_train=40)

    def build():
        return make_dataset(source, "train", ["depth", "attr_b0"], 8, seed=2)

    for a, b in zip(build().take(4), build().take(4)):
        tf.nest.map_structure(
            np.testing.assert_array_equal,
            tf.nest.map_structure(lambda t: t.numpy(), a),
            tf.nest.map_structure(lambda t: t.numpy(), b),
        )
    resumed = make_dataset(
        source, "train", ["depth", "attr_b0"], 8, seed=2, start_step=3
    )
    last = list(build().take(4))[3]
    first = next(iter(resumed))
    np.testing.assert_array_equal(first["image"], last["image"])


def test_task_selection_and_unknown_task():
    dataset = make_dataset(_Counter(), "train", ["parity"], 4)
    batch = next(iter(dataset))
    assert list(batch["labels"]) == ["parity"]
    assert batch["image"].shape == (4, 2, 2, 3)
    ids = batch["image"][:, 0, 0, 0].numpy().astype(int)
    np.testing.assert_array_equal(batch["labels"]["parity"], ids % 2)
    with pytest.raises(ValueError, match=r"depth.*available.*'id', 'parity'"):
        make_dataset(_Counter(), "train", ["parity", "depth"], 4)


@pytest.mark.parametrize("start_step", [0, 2])
def test_sharding_gives_disjoint_halves_of_global_batches(start_step):
    source = _Counter(16)
    fresh = _ids(
        make_dataset(source, "train", None, 8, seed=4, start_step=start_step),
        6,
    )
    shards = []
    for i in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2
        )
        dataset = make_dataset(
            source,
            "train",
            None,
            8,
            seed=4,
            start_step=start_step,
            input_context=context,
        )
        shards.append(_ids(dataset, 6))
    assert shards[0].shape == (6, 4)  # per-replica batches
    for step in range(6):
        a, b = set(shards[0][step]), set(shards[1][step])
        assert not a & b
        assert a | b == set(fresh[step])


def test_single_pipeline_context_uses_per_replica_batches():
    context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2
    )
    dataset = make_dataset(
        _Counter(16), "train", None, 8, seed=4, input_context=context
    )
    per_replica = _ids(dataset, 4)
    fresh = _ids(make_dataset(_Counter(16), "train", None, 8, seed=4), 2)
    np.testing.assert_array_equal(per_replica.reshape(2, 8), fresh)
