"""Builds the resumable, shardable `tf.data` input pipeline of a `DataSource`.

For an indexable source the pipeline is

    indices of epoch e (shuffled with the stateless seed (seed, e))
    -> skip `start_step * global_batch_size` indices (jumping whole epochs)
    -> shard by `input_context` -> parallel decode -> select tasks
    -> batch per replica -> prefetch

so the example order is a pure function of `seed`, and a pipeline built with
`start_step=k` yields exactly batches k, k+1, ... of a fresh one without
decoding the skipped examples. Sources that override `read` receive the same
seed, skip and shard and must honour the same contract.
"""

from collections.abc import Sequence

import tensorflow as tf

from tfmtl.data.data_source import DataSource


def _index_stream(num_examples, *, shuffle, seed, repeat, skip):
    """The int64 index stream after shuffling and skipping `skip` entries."""
    if num_examples is None:
        # An unbounded source: every index is a new example, nothing to
        # shuffle and no epochs.
        return tf.data.Dataset.range(skip, tf.int64.max)
    first_epoch, offset = divmod(skip, num_examples)
    if not repeat and first_epoch > 0:
        return tf.data.Dataset.range(0)
    last_epoch = tf.int64.max if repeat else 1
    seed = tf.constant(seed, tf.int64)

    def epoch_indices(epoch):
        indices = tf.range(num_examples, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(
                indices, seed=tf.stack([seed, epoch])
            )
        return tf.data.Dataset.from_tensor_slices(indices)

    epochs = tf.data.Dataset.range(first_epoch, last_epoch)
    return epochs.flat_map(epoch_indices).skip(offset)


def _check_tasks(source, tasks):
    available = tuple(source.tasks)
    if tasks is None:
        return available
    if isinstance(tasks, str):
        tasks = (tasks,)
    missing = [t for t in tasks if t not in available]
    if missing:
        raise ValueError(
            f"{type(source).__name__} has no task(s) {missing}; available "
            f"tasks: {list(available)}."
        )
    return tuple(tasks)


def make_dataset(
    source: DataSource,
    split: str,
    tasks: Sequence[str] | None,
    global_batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = True,
    start_step: int = 0,
    input_context: tf.distribute.InputContext | None = None,
    deterministic: bool = True,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """Builds the batched dataset of `tasks` from `source`.

    Args:
        source: the `DataSource`.
        split: split name (e.g. "train", "validation", "test").
        tasks: task names to keep in `labels` (None: all of the source's).
        global_batch_size: examples per step over all replicas.
        shuffle: shuffle each epoch (as a pure function of `(seed, epoch)`).
            Indexable sources of unknown size (`num_examples` None) are
            unbounded streams and are read in index order.
        seed: the shuffle seed.
        repeat: repeat forever; otherwise one epoch.
        start_step: the training step to resume at; the first
            `start_step * global_batch_size` examples are skipped on the index
            stream, before decoding.
        input_context: `tf.distribute.InputContext` (from
            `distribute_datasets_from_function`): batches are per replica and,
            with several input pipelines, pipeline `i` keeps every
            `num_input_pipelines`-th example starting at `i`, so the pipelines
            together produce the same global batches as one pipeline.
        deterministic: keep the example order under parallel decoding.
        drop_remainder: drop a last, smaller batch.

    Returns:
        A dataset of `{"image": [b, H, W, 3], "labels": {task: [b, ...]}}`.

    Raises:
        ValueError: a requested task is not available from `source`, or the
            arguments are inconsistent.
    """
    tasks = _check_tasks(source, tasks)
    if global_batch_size <= 0 or start_step < 0:
        raise ValueError("Need global_batch_size > 0 and start_step >= 0.")
    skip = start_step * global_batch_size
    batch_size, shard = global_batch_size, None
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        if input_context.num_input_pipelines > 1:
            shard = (
                input_context.num_input_pipelines,
                input_context.input_pipeline_id,
            )

    if source.indexable:
        indices = _index_stream(
            source.num_examples(split),
            shuffle=shuffle,
            seed=seed,
            repeat=repeat,
            skip=skip,
        )
        if shard is not None:
            indices = indices.shard(*shard)
        ds = source.make_examples(indices, split)
    else:
        ds = source.read(
            split,
            shuffle_seed=seed if shuffle else None,
            skip=skip,
            repeat=repeat,
            shard=shard,
        )

    def select(example):
        labels = example["labels"]
        return {
            "image": example["image"],
            "labels": {task: labels[task] for task in tasks},
        }

    ds = ds.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options)
