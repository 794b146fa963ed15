"""NDDR sharing: branches, fusion points, groups and an end-to-end run."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.mtl_nas import NDDR
from tfmtl.models.backbones import VGG16, ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.testing import TinyStagedBackbone
from tfmtl.trainers import Action, Joint, build_controller


def _resnet():
    return ResNet(18, stem="small", widths=(4, 4, 8, 8))


def test_vgg_fuses_after_the_five_pools():
    sharing = NDDR(VGG16(), tasks=("seg", "normals"))
    features = sharing(tf.zeros((1, 24, 24, 3)))
    assert features["normals"].shape == (1, 3, 3, 1024)
    assert sharing.fuse_after == (0, 1, 2, 3, 4)
    widths = [
        layer.fusions[0].kernel.shape[-1] for layer in sharing.nddr_layers
    ]
    assert widths == [64, 128, 256, 512, 512]
    assert len(sharing.branches) == 2
    assert sharing.branches[0] is not sharing.branches[1]


def test_init_one_zero_task_ignores_the_other_branch():
    sharing = NDDR(_resnet, tasks=("a", "b"), init_weights=(1.0, 0.0))
    images = tf.random.stateless_uniform((2, 16, 16, 3), seed=(1, 2))
    before = sharing(images, training=False)
    for v in sharing.branches[1].trainable_variables:
        v.assign(v + 0.3)
    after = sharing(images, training=False)
    np.testing.assert_allclose(before["a"], after["a"], atol=1e-5)
    assert not np.allclose(before["b"], after["b"])


def test_variable_groups_and_config():
    sharing = NDDR(_resnet, tasks=("a", "b", "c"))
    sharing(tf.zeros((1, 16, 16, 3)))
    groups = sharing.variable_groups()
    assert len(groups["fusion"]) == 3 * 3 * 3  # 3 layers x 3 tasks x (k, g, b)
    total = len(groups["weights"]) + len(groups["fusion"])
    assert total == len(sharing.trainable_variables)
    merged = NDDR(_resnet, tasks=("a", "b"), fusion_group="weights")
    merged(tf.zeros((1, 16, 16, 3)))
    assert list(merged.variable_groups()) == ["weights"]
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(sharing)
    )
    assert (
        clone.fuse_after == sharing.fuse_after and clone.tasks == sharing.tasks
    )


def test_model_with_1x1_heads():
    model = MultiTaskModel(
        NDDR(_resnet, tasks=("a", "b")),
        {"a": DenseHead(5, num_layers=0), "b": DenseHead(3, num_layers=0)},
    )
    out = model(tf.zeros((2, 16, 16, 3)))
    assert out["a"].shape == (2, 16, 16, 5)


class _Losses(Action):
    def __init__(self):
        super().__init__(every_n_steps=1)
        self.losses = []

    def __call__(self, step, logs, controller):
        self.losses.append(logs["loss/objective"])


def test_training_updates_fusion_with_its_own_optimizer(tmp_path):
    names = ("segmentation", "normals")
    source = SyntheticScenes(
        image_size=16, num_train=32, num_validation=8, num_test=8
    )
    record = _Losses()
    controller = build_controller(
        model_dir=str(tmp_path),
        tasks=tasks_lib.tasks_for(source, names),
        sharing=lambda: NDDR(TinyStagedBackbone, tasks=names),
        optimizers={
            "weights": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
            "fusion": lambda: keras.optimizers.SGD(1.0, momentum=0.9),
        },
        train_data=source,
        global_batch_size=4,
        schedule=Joint(groups=("weights", "fusion")),
        actions=[record],
        summary_every=5,
        checkpoint_every=100,
    )
    kernel = controller.model.sharing.nddr_layers[0].fusions[0].kernel
    start = kernel.numpy().copy()
    controller.train(6)
    assert controller.optimizers["fusion"].iterations.numpy() == 6
    assert not np.allclose(start, kernel.numpy())
    assert all(np.isfinite(record.losses))
    results = controller.evaluate(1)
    assert "metric/segmentation/miou" in results


def test_shortcut_concatenates_every_fused_output_before_the_last_stage():
    sharing = NDDR(VGG16(), tasks=("seg", "normals"), shortcut=True)
    features = sharing(tf.zeros((1, 24, 24, 3)))
    assert features["seg"].shape == (1, 3, 3, 1024)
    conv = sharing.shortcut_layers[0].layers[0]
    assert conv.kernel.shape == (1, 1, 64 + 128 + 256 + 512 + 512, 512)

    # By hand on the tiny backbone: fuse after blocks 1 and 3, resize the
    # first fused map to the second's size, concatenate, 1x1 conv + BN +
    # ReLU, then block 4.
    tiny = NDDR(TinyStagedBackbone, tasks=("a", "b"), shortcut=True)
    images = tf.random.stateless_uniform((2, 8, 8, 3), seed=(7, 8))
    out = tiny(images, training=False)
    xs = [images, images]
    fused = []
    for index in range(5):
        xs = [b.blocks[index](x) for b, x in zip(tiny.branches, xs)]
        if index in (1, 3):
            xs = tiny.nddr_layers[(1, 3).index(index)](xs)
            fused.append(xs)
        if index == 3:
            xs = [
                layer(
                    tf.concat(
                        [tf.image.resize(fused[0][t], (4, 4)), fused[1][t]], -1
                    )
                )
                for t, layer in enumerate(tiny.shortcut_layers)
            ]
    np.testing.assert_allclose(out["a"], xs[0], atol=1e-5)
    np.testing.assert_allclose(out["b"], xs[1], atol=1e-5)
    assert tiny.shortcut_layers[1].layers[0].kernel.shape == (1, 1, 12, 8)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tiny)
    )
    assert clone.shortcut and clone.fusion == "nddr"


def test_cross_stitch_fusion_is_a_weighted_sum():
    sharing = NDDR(
        TinyStagedBackbone,
        tasks=("a", "b"),
        fusion="cross_stitch",
        init_weights=(0.8, 0.2),
    )
    images = tf.random.stateless_uniform((2, 8, 8, 3), seed=(1, 9))
    out = sharing(images, training=False)
    xs = [images, images]
    for index in range(5):
        xs = [b.blocks[index](x) for b, x in zip(sharing.branches, xs)]
        if index in (1, 3):
            xs = [0.8 * xs[0] + 0.2 * xs[1], 0.2 * xs[0] + 0.8 * xs[1]]
    np.testing.assert_allclose(out["a"], xs[0], atol=1e-5)
    np.testing.assert_allclose(out["b"], xs[1], atol=1e-5)
    groups = sharing.variable_groups()
    # One scalar per (layer, task, input): 2 layers x 2 tasks.
    assert [v.shape for v in groups["fusion"]] == [(2,)] * 4
    with pytest.raises(ValueError, match="Unknown fusion"):
        NDDR(TinyStagedBackbone, tasks=("a", "b"), fusion="sluice")
