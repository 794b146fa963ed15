"""The `DataSource` contract: examples from an index stream, for resuming.

A data source describes one data set. Most sources are *indexable*: example
`i` of a split is a pure function of `i`, so `tfmtl.data.make_dataset` can
shuffle, fast-forward and shard a cheap stream of integers and decode only the
examples it keeps. Sources that cannot be indexed (TFDS record files) override
`read` instead and fast-forward on their own record stream.
"""

import tensorflow as tf

# The task kinds of docs/design.md (label layouts).
TASK_KINDS = (
    "binary",
    "classification",
    "segmentation",
    "depth",
    "normals",
    "regression",
)


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set has not been downloaded and prepared.

    The message is one line: where the data was looked for and the command
    (or download instructions) that prepares it.
    """


class DataSource:
    """Base class of every data source.

    An example is `{"image": float32 [H, W, 3] in [0, 1], "labels": {task:
    label}}` with the per-example label layouts of docs/design.md (for
    instance `binary`: int32 scalar in {0, 1}; `segmentation`: int32 [H, W]).

    Subclasses implement `task_kinds` and `num_examples`, and either
    `example` (indexable sources: the base `make_examples` maps it over the
    index stream in parallel) or `read` (non-indexable sources). `indexable`
    is True unless `read` is overridden.

    Example:

    ```python
    class Constant(DataSource):
        task_kinds = {"attr": "binary"}

        def num_examples(self, split):
            return 10

        def example(self, index, split):
            return {"image": tf.zeros([8, 8, 3]),
                    "labels": {"attr": tf.cast(index % 2, tf.int32)}}
    ```
    """

    #: `{task name: kind}` for every task the source can label.
    task_kinds: dict = {}

    @property
    def tasks(self) -> tuple:
        """The names of the tasks this source can label, in a fixed order."""
        return tuple(self.task_kinds)

    @property
    def indexable(self) -> bool:
        """Whether examples are built from an index stream (`make_examples`)."""
        return type(self).read is DataSource.read

    def num_examples(self, split: str) -> int | None:
        """Number of examples in `split`, or None when unknown or unbounded."""
        raise NotImplementedError

    def example(self, index: tf.Tensor, split: str) -> dict:
        """Builds example `index` (an int64 scalar tensor) of `split`.

        Runs inside `tf.data` map functions, so it must use TensorFlow ops.
        """
        raise NotImplementedError(
            f"{type(self).__name__} implements neither `example` nor `read`."
        )

    def make_examples(
        self, index_ds: tf.data.Dataset, split: str
    ) -> tf.data.Dataset:
        """Maps an int64 index stream to examples, in parallel.

        The map uses `AUTOTUNE` parallelism and leaves `deterministic` unset,
        so the pipeline's `tf.data.Options.deterministic` decides ordering.

        Args:
            index_ds: dataset of int64 scalars in `[0, num_examples(split))`.
            split: the split name.

        Returns:
            A dataset of examples, one per index, in the same order.
        """
        return index_ds.map(
            lambda index: self.example(index, split),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def read(
        self,
        split: str,
        shuffle_seed: int | None = None,
        skip: int = 0,
        *,
        repeat: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> tf.data.Dataset:
        """Reads the example stream of a non-indexable source.

        Overridden by sources that cannot build examples from an index.

        Args:
            split: the split name.
            shuffle_seed: None for file order; otherwise the stream is
                shuffled (and reshuffled each epoch) as a pure function of
                this seed.
            skip: number of leading examples of the (shuffled, repeated)
                stream to drop, before decoding.
            repeat: whether the stream repeats forever.
            shard: optional `(num_shards, shard_index)`; keeps every
                `num_shards`-th example of the stream after `skip`, before
                decoding.

        Returns:
            A dataset of examples.
        """
        raise NotImplementedError(
            f"{type(self).__name__} is indexable; use `make_examples`."
        )
