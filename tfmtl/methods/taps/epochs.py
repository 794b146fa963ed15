"""Epochs of the reference's data loaders, counted in training steps.

The reference (github.com/MattWallingford/TAPS) counts its warm-up and its
training length in epochs, each epoch one pass over a PyTorch `DataLoader`:

* `train_sequential.py`: `DataLoader(dataset, batch_size, shuffle=True)`
  (`drop_last=False`), so an epoch is `ceil(N / batch)` batches;
* `train_joint.py`: the batch sampler `samplers/DomainNet.py`
  (`MultiDomainSampler.__len__`) ends the epoch with the smallest domain:
  `min_d floor(N_d / batch)` rounds, each a batch of every domain. Here a
  round is one micro-step per domain (`tfmtl.methods.taps.joint`), so a
  joint epoch is `len(domains) * min_d floor(N_d / batch)` steps.

Steps are the trainer's training steps (micro-steps when it accumulates
gradients); `accumulation_steps` divides them into optimizer updates, the
unit of learning-rate schedules.
"""

import math


def steps_per_epoch(sizes, batch_size, joint=False):
    """Training steps of one reference epoch.

    Args:
        sizes: training-set sizes, one per data set (a single int or a
            one-element list for sequential training).
        batch_size: examples per step (per domain and step when `joint`).
        joint: count as `train_joint.py` (one step per domain and round,
            the epoch ending with the smallest domain); else as
            `train_sequential.py` (`ceil(N / batch)`).

    Returns:
        int, steps of one epoch.
    """
    sizes = [int(sizes)] if isinstance(sizes, (int, float)) else list(sizes)
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"sizes must be positive training-set sizes: {sizes}")
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be positive: {batch_size}")
    batch_size = int(batch_size)
    if joint:
        rounds = min(n // batch_size for n in sizes)
        if rounds == 0:
            raise ValueError(
                f"A domain of {sizes} is smaller than one batch {batch_size}."
            )
        return len(sizes) * rounds
    if len(sizes) != 1:
        raise ValueError(f"Sequential training has one data set: {sizes}.")
    return math.ceil(sizes[0] / batch_size)


def epoch_steps(epochs, sizes, batch_size, joint=False, accumulation_steps=1):
    """`epochs` reference epochs in steps (or in updates).

    Args:
        epochs: number of epochs (a float is allowed).
        sizes, batch_size, joint: as in `steps_per_epoch`.
        accumulation_steps: steps per optimizer update; the result is
            `ceil(epochs * steps_per_epoch / accumulation_steps)`, so 1
            gives steps and the trainer's accumulation gives updates.

    Returns:
        int.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0: {epochs}")
    if int(accumulation_steps) <= 0:
        raise ValueError(
            f"accumulation_steps must be > 0: {accumulation_steps}"
        )
    steps = epochs * steps_per_epoch(sizes, batch_size, joint)
    return math.ceil(steps / int(accumulation_steps))


def split_sizes(source, splits=("train",)):
    """`[source.num_examples(split) for split in splits]`."""
    sizes = [source.num_examples(split) for split in splits]
    if any(n is None for n in sizes):
        raise ValueError(f"{type(source).__name__} cannot count {splits}.")
    return sizes
