"""NDDR sharing: branches, fusion points, groups and an end-to-end run."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.models.backbones import VGG16, ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.sharing.nddr import NDDR
from tfmtl.testing import TinyStagedBackbone
from tfmtl.trainers import Action, Controller, Joint


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
    controller = Controller(
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
