"""Splits a training split in two halves for bi-level methods."""

import tensorflow as tf

from tfmtl.data.wrapped_source import WrappedSource


class SplitHalves(WrappedSource):
    """Adds splits `train1` / `train2`: the two halves of a source's split.

    AdaShare and MTL-NAS update network weights on one half of the training
    data and architecture parameters on the other. Every other split name is
    passed through unchanged.

    Args:
        source: An indexable `DataSource`.
        split: The split that is halved.
        names: Names of the first and second half.
    """

    def __init__(self, source, split="train", names=("train1", "train2")):
        if not source.indexable:
            raise ValueError(
                f"{type(source).__name__} cannot be split in halves: it is "
                "not indexable."
            )
        self.source, self.split, self.names = source, split, tuple(names)

    def num_examples(self, split):
        if split not in self.names:
            return self.source.num_examples(split)
        total = self.source.num_examples(self.split)
        first = total // 2
        return first if split == self.names[0] else total - first

    def example(self, index, split):
        if split not in self.names:
            return self.source.example(index, split)
        offset = 0
        if split == self.names[1]:
            offset = self.source.num_examples(self.split) // 2
        index = tf.cast(index, tf.int64) + offset
        return self.source.example(index, self.split)
