"""SplitHalves: two disjoint halves covering a split."""

import numpy as np

from tfmtl.data import SplitHalves, SyntheticScenes, make_dataset


def test_halves_partition_the_split():
    source = SyntheticScenes(image_size=8, num_train=10, num_validation=4)
    halves = SplitHalves(source)
    assert halves.num_examples("train1") == 5
    assert halves.num_examples("train2") == 5
    assert halves.num_examples("validation") == 4
    assert halves.task_kinds == source.task_kinds
    assert halves.num_classes == source.num_classes

    def images(src, split):
        ds = make_dataset(src, split, ["depth"], 1, shuffle=False, repeat=False)
        return np.stack([b["image"][0].numpy() for b in ds])

    whole = images(source, "train")
    both = np.concatenate([images(halves, "train1"), images(halves, "train2")])
    np.testing.assert_array_equal(whole, both)
    np.testing.assert_array_equal(
        images(halves, "validation"), images(source, "validation")
    )
