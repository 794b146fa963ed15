"""Starting feature partitioning from a trained trunk; frozen prefix."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.feature_partitioning import (
    AccuracySampledTask,
    FeaturePartitioning,
    per_task_optimizers,
)
from tfmtl.methods.feature_partitioning.pretrained import BaseNotFoundError
from tfmtl.trainers import build_controller

WIDTHS = (4, 8, 8)
SOURCE = SyntheticScenes(
    image_size=16, num_train=64, num_validation=16, num_test=16
)


def _controller(model_dir, tasks, **sharing_kwargs):
    sharing = functools.partial(
        FeaturePartitioning,
        tasks,
        "independent" if len(tasks) > 1 else "share_all",
        widths=WIDTHS,
        blocks_per_stage=1,
        **sharing_kwargs,
    )
    sgd = functools.partial(keras.optimizers.SGD, 0.1, momentum=0.9)
    return build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(SOURCE, tasks),
        sharing=sharing,
        optimizers=per_task_optimizers(tasks, sgd),
        train_data=SOURCE,
        global_batch_size=8,
        schedule=AccuracySampledTask(mode="uniform"),
        checkpoint_every=100,
        summary_every=100,
    )


def _trunk_values(trunk, task=0):
    convs = [trunk.stem_conv] + [
        c for b in trunk.blocks for c in (b.conv1, b.conv2)
    ]
    kernels = [np.array(c.kernel) for c in convs]
    norms = [
        [np.array(v) for v in n.norms[task].weights] for n in trunk.task_norms()
    ]
    return kernels, norms


@pytest.fixture(scope="module")
def single_task_run(tmp_path_factory):
    """A trained single-task run: its model dir, `.keras` file and values."""
    root = tmp_path_factory.mktemp("single")
    controller = _controller(root / "run", ("attr_a0",))
    controller.train(3)  # also writes the final checkpoint
    controller.model.save(str(root / "trunk.keras"))
    return root, _trunk_values(controller.model.sharing.backbone)


@pytest.mark.parametrize("kind", ["checkpoint", "keras"])
def test_loaded_trunk_equals_saved_one(single_task_run, kind):
    root, (kernels, norms) = single_task_run
    path = root / "run" if kind == "checkpoint" else root / "trunk.keras"
    fp = FeaturePartitioning(
        ("x", "y"),
        "independent",
        widths=WIDTHS,
        blocks_per_stage=1,
        pretrained=str(path),
    )
    fp.build((None, 16, 16, 3))
    for task in (0, 1):
        got_kernels, got_norms = _trunk_values(fp.backbone, task)
        for a, b in zip(got_kernels, kernels):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(got_norms, norms):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
    # The source's moving statistics were trained (not initial values).
    assert np.abs(norms[0][2]).max() > 0
    # Masks come from this partition, not from the source.
    fwd = np.array(fp.backbone.masked_convs()[0].forward_mask)
    np.testing.assert_array_equal(fwd.sum(1), [4, 4])


def test_missing_or_mismatched_trunk_is_a_clear_error(
    single_task_run, tmp_path
):
    root, _ = single_task_run
    for missing in (tmp_path / "nothing.keras", tmp_path / "ckpt-3", tmp_path):
        # Fails when the layer is made, before anything is built.
        with pytest.raises(BaseNotFoundError, match="not found|no checkpoint"):
            FeaturePartitioning(
                ("x",), widths=WIDTHS, blocks_per_stage=1, pretrained=missing
            )
    not_fp = tmp_path / "other.keras"
    keras.Sequential([keras.layers.Dense(2)]).save(str(not_fp))
    other = FeaturePartitioning(
        ("x",), widths=WIDTHS, blocks_per_stage=1, pretrained=not_fp
    )
    with pytest.raises(ValueError, match="without a feature-partitioning"):
        other.build((None, 16, 16, 3))
    wider = FeaturePartitioning(
        ("x",),
        widths=(4, 8, 16),
        blocks_per_stage=1,
        pretrained=root / "run",
    )
    with pytest.raises(ValueError, match="needs"):
        wider.build((None, 16, 16, 3))
    two = FeaturePartitioning(
        ("x",),
        widths=WIDTHS,
        blocks_per_stage=1,
        pretrained=root / "run",
        pretrained_tasks=2,
    )
    with pytest.raises(ValueError, match="pretrained_tasks"):
        two.build((None, 16, 16, 3))


def test_frozen_prefix_keeps_pretrained_kernels(single_task_run, tmp_path):
    root, (kernels, norms) = single_task_run
    controller = _controller(
        tmp_path / "mtl",
        ("attr_a0", "attr_b0"),
        pretrained=str(root / "run"),
        freeze_prefix=True,
    )
    trunk = controller.model.sharing.backbone
    prefix = trunk.prefix_convs()
    masked_before = [np.array(c.kernel) for c in trunk.masked_convs()]
    np.testing.assert_array_equal(prefix[0].kernel, kernels[0])
    controller.train(4)
    # Stem and early-stage kernels are exactly the pretrained ones ...
    for conv, value in zip(prefix, kernels):
        np.testing.assert_array_equal(conv.kernel, value)
    # ... the last stage and the per-task norms of the frozen part train.
    assert any(
        np.abs(np.array(c.kernel) - old).max() > 0
        for c, old in zip(trunk.masked_convs(), masked_before)
    )
    assert (
        np.abs(np.array(trunk.stem_norm.norms[0].gamma) - norms[0][0]).max() > 0
    )
    # A restart restores the checkpoint instead of reloading the trunk.
    resumed = _controller(
        tmp_path / "mtl",
        ("attr_a0", "attr_b0"),
        pretrained=str(root / "run"),
        freeze_prefix=True,
    )
    resumed.restore()
    np.testing.assert_array_equal(
        resumed.model.sharing.backbone.masked_convs()[0].kernel,
        trunk.masked_convs()[0].kernel,
    )
    assert tf.reduce_all(
        resumed.model.sharing.backbone.stem_norm.norms[0].gamma
        == trunk.stem_norm.norms[0].gamma
    )


def test_frozen_run_loads_into_a_trunk_masked_in_every_stage(tmp_path):
    # A FREEZE_PREFIX run has no masks in its prefix; a trunk without it
    # masks every stage and still reads that run's kernels.
    controller = _controller(tmp_path / "run", ("attr_a0",), freeze_prefix=True)
    controller.train(1)
    kernels, _ = _trunk_values(controller.model.sharing.backbone)
    fp = FeaturePartitioning(
        ("x", "y"),
        "independent",
        widths=WIDTHS,
        blocks_per_stage=1,
        pretrained=str(tmp_path / "run"),
    )
    fp.build((None, 16, 16, 3))
    assert len(fp.backbone.masked_convs()) == len(fp.backbone.blocks)
    for a, b in zip(_trunk_values(fp.backbone)[0], kernels):
        np.testing.assert_array_equal(a, b)
