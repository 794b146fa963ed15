"""The training data streams of a run, with checkpointed positions."""

import tensorflow as tf

from tfmtl.data.pipeline import make_dataset


class TrainStreams:
    """One resumable distributed iterator per training data stream.

    Each stream's position (batches read) is an int64 variable, saved with
    the run's checkpoint; after a restore, `reset()` makes every iterator
    start again at its stream's restored position, so a resumed run reads
    exactly the batches the uninterrupted run would have read.

    Args:
        data: The training `DataSource`.
        splits: Dict mapping stream name to a split of `data`.
        task_names: Tuple of the run's task names.
        global_batch_size: Examples per step over all replicas.
        strategy: The run's `tf.distribute.Strategy`.
        seed: Seed of the data order.

    Example:
    ```python
    streams = TrainStreams(data, {"train": "train"}, names, 64, strategy)
    batch = next(streams.iterator("train")); streams.advance("train")
    ```
    """

    def __init__(
        self, data, splits, task_names, global_batch_size, strategy, seed=0
    ):
        self.data, self.splits = data, dict(splits)
        self.task_names = tuple(task_names)
        self.global_batch_size = int(global_batch_size)
        self.strategy, self.seed = strategy, seed
        self.positions = {
            name: tf.Variable(0, dtype=tf.int64, trainable=False)
            for name in self.splits
        }
        self._iterators = {}

    def iterator(self, stream):
        """The distributed iterator of `stream`, made on first use."""
        if stream not in self._iterators:
            split = self.splits[stream]
            start = int(self.positions[stream].numpy())

            def dataset_fn(context):
                return make_dataset(
                    self.data,
                    split,
                    self.task_names,
                    self.global_batch_size,
                    shuffle=True,
                    repeat=True,
                    seed=self.seed,
                    start_step=start,
                    input_context=context,
                )

            dist = self.strategy.distribute_datasets_from_function(dataset_fn)
            self._iterators[stream] = iter(dist)
        return self._iterators[stream]

    def advance(self, stream):
        """Counts one batch read from `stream`."""
        self.positions[stream].assign_add(1)

    def reset(self):
        """Drops the iterators (after a restore changed the positions)."""
        self._iterators = {}
