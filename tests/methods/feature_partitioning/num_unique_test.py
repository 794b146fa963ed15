"""`num_unique`: several partitions along the depth of the trunk.

Reference (google/multi-task-architecture-search):
* `models/resnet.py::ResNet.get_layer_ref` lists every convolution of the
  trunk in state-dict order: `pre_layers_conv`, then `layerS.B.conv1` and
  `layerS.B.conv2` of each block;
* `models/masked_resnet.py::Net.__init__` gives layer l the partition
  `l // ceil(len(layer_ref) / num_unique)` and masks the `conv1`s (of
  `layer3` only under `last_third_only`);
* `meta/param/partition.py::prepare_masks` / `PartitionManager.find_masks`
  solve one mask per partition and width; `share_fixed` builds a private
  block of `floor(C (1 - share_amt) / N)` channels per task and gives the
  rest to all.

The expected layer-to-partition map and the `share_fixed` masks are
recomputed here in numpy from those definitions.
"""

import numpy as np
import pytest

from tfmtl.methods.feature_partitioning import FeaturePartitioning

PRESETS = ["share_all", "independent", "share_fixed:0.5", "share_fwd_only"]
NUM_TASKS = 3


def _reference_layer_ref(num_stages, num_blocks):
    names = ["pre_layers_conv"]
    for s in range(1, num_stages + 1):
        for b in range(num_blocks):
            names += [f"layer{s}.{b}.conv1", f"layer{s}.{b}.conv2"]
    return names


def _reference_masked_groups(num_stages, num_blocks, num_unique, last_only):
    """{layer name: partition index} of the masked convolutions."""
    names = _reference_layer_ref(num_stages, num_blocks)
    repeat_rate = int(np.ceil(len(names) / num_unique))
    last = f"layer{num_stages}"
    return {
        name: index // repeat_rate
        for index, name in enumerate(names)
        if "conv1" in name and (not last_only or name.startswith(last))
    }


def _share_fixed(channels, num_tasks, share_amt):
    amt_per_task = int(np.floor(channels * (1 - share_amt) / num_tasks))
    amt_shared = channels - amt_per_task * num_tasks
    masks = np.zeros((num_tasks, channels))
    for i in range(num_tasks):
        masks[i, i * amt_per_task : (i + 1) * amt_per_task] = 1
        masks[i, -amt_shared:] = 1
    return masks


def _preset_of(forward, backward):
    """Which of `PRESETS` masks [N, C] come from (by their definition)."""
    channels = forward.shape[1]
    disjoint_fwd = (forward.sum(0) <= 1).all()
    if (forward == 1).all():
        if (backward == 1).all():
            return "share_all"
        if (backward.sum(0) <= 1).all():
            assert (backward.sum(1) == channels // NUM_TASKS).all()
            return "share_fwd_only"
    if disjoint_fwd and (forward.sum(1) == channels // NUM_TASKS).all():
        np.testing.assert_array_equal(backward, forward)
        return "independent"
    np.testing.assert_array_equal(forward, _share_fixed(channels, 3, 0.5))
    np.testing.assert_array_equal(backward, forward)
    return "share_fixed:0.5"


def test_unique_groups_cut_the_layers_in_contiguous_runs():
    from tfmtl.methods.feature_partitioning.unique_partitions import (
        unique_groups,
    )

    # ResNet-26: 25 convolutions.
    assert unique_groups(25, 1) == [0] * 25
    assert unique_groups(25, 2) == [0] * 13 + [1] * 12
    assert unique_groups(25, 4) == [i // 7 for i in range(25)]
    assert max(unique_groups(25, 24)) == 12  # ceil(25 / 24) = 2: 13 used
    with pytest.raises(ValueError, match="num_unique"):
        unique_groups(25, 0)


@pytest.mark.parametrize("freeze_prefix", [False, True])
@pytest.mark.parametrize("num_unique", [1, 2, 3, 4])
def test_each_masked_conv_uses_the_partition_of_its_group(
    num_unique, freeze_prefix
):
    widths, blocks = (6, 6, 12, 24), 2
    partitions = PRESETS[:num_unique]
    fp = FeaturePartitioning(
        [f"t{i}" for i in range(NUM_TASKS)],
        partitions if num_unique > 1 else partitions[0],
        widths=widths,
        blocks_per_stage=blocks,
        freeze_prefix=freeze_prefix,
    )
    fp.build((None, 16, 16, 3))
    assert fp.num_unique == num_unique
    expected = _reference_masked_groups(3, blocks, num_unique, freeze_prefix)
    got = {}
    for block, stage_block in zip(
        fp.backbone.blocks,
        [(s, b) for s in range(1, 4) for b in range(blocks)],
        strict=True,
    ):
        conv = block.conv1
        name = f"layer{stage_block[0]}.{stage_block[1]}.conv1"
        if not hasattr(conv, "forward_mask"):
            continue
        got[name] = _preset_of(
            np.asarray(conv.forward_mask, np.float64),
            np.asarray(conv.backward_mask, np.float64),
        )
    assert got == {n: PRESETS[g] for n, g in expected.items()}


def test_partition_lists_round_trip_through_the_config(tmp_path):
    import json

    path = tmp_path / "partitions.json"
    path.write_text(json.dumps({"partitions": ["independent", "share_all"]}))
    fp = FeaturePartitioning(
        ["a", "b", "c"], str(path), widths=(6, 6, 12), blocks_per_stage=1
    )
    config = fp.get_config()
    assert len(config["partition"]) == 2
    clone = FeaturePartitioning.from_config(config)
    assert clone.num_unique == 2
    np.testing.assert_array_equal(clone.partitions[1].forward, np.ones((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        FeaturePartitioning(["a"], [], widths=(6, 6), blocks_per_stage=1)
