"""A data source whose training splits are randomly augmented, resumably."""

import tensorflow as tf

from tfmtl.data.wrapped_source import WrappedSource


class Augmented(WrappedSource):
    """Applies a random augmentation to the examples of some splits.

    The randomness of an example is a pure function of `(seed, index)`
    (stateless ops), so a resumed run, which fast-forwards the index stream,
    sees exactly the examples an uninterrupted run would have seen, and so
    does every replica or input pipeline.

    **Draws per example.** An augmented split has `variants` times the
    examples of the wrapped split: index `i` is example `i mod N` under
    draw `i // N`. The pipeline shuffles these `variants * N` indices, so
    over training every example is seen under fresh random draws (with
    `variants=1` an example would get the same draw in every epoch). One
    "epoch" of an augmented split is therefore `variants` passes over the
    data; only counts that use `num_examples` see this. Other splits (e.g.
    validation and test) pass through untouched.

    Args:
        source: an indexable `DataSource`.
        augment: a callable `augment(example, seed, task_kinds) -> example`
            (e.g. `tfmtl.data.augment.DenseAugment`); `seed` is an int64
            tensor [2].
        splits: names of the splits to augment.
        seed: the augmentation seed.
        variants: random draws per example (see above).

    Example:
    ```python
    source = Augmented(NYUv2("/data/nyu"), DenseAugment((321, 321)),
                       splits=("train", "train1", "train2"))
    ```
    """

    def __init__(
        self,
        source,
        augment,
        splits=("train", "train1", "train2"),
        seed=0,
        variants=100,
    ):
        if not source.indexable:
            raise ValueError(
                f"{type(source).__name__} is not indexable; Augmented needs "
                "an index per example to seed its augmentation."
            )
        if variants < 1:
            raise ValueError(f"variants must be >= 1, got {variants}.")
        self.source, self.augment = source, augment
        self.splits = tuple(splits)
        self.seed, self.variants = int(seed), int(variants)

    def num_examples(self, split):
        count = self.source.num_examples(split)
        if split not in self.splits or count is None:
            return count
        return count * self.variants

    def example(self, index, split):
        if split not in self.splits:
            return self.source.example(index, split)
        index = tf.cast(index, tf.int64)
        count = self.source.num_examples(split)
        base = index if count is None else index % count
        example = self.source.example(base, split)
        seed = tf.stack([tf.constant(self.seed, tf.int64), index])
        return self.augment(example, seed, self.task_kinds)
