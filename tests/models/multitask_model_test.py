"""MultiTaskModel.variable_groups: default grouping and head groups."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.mtl_nas import NDDR
from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.sharing import HardSharing
from tfmtl.testing import TinyStagedBackbone
from tfmtl.trainers import Joint, build_controller

FC8 = {"fc8_weights": "output_conv/kernel$", "fc8_biases": "output_conv/bias$"}


def _model(**kwargs):
    model = MultiTaskModel(
        HardSharing(
            ResNet(18, stem="small", widths=(4, 4, 8, 8)), tasks=("a", "b")
        ),
        {"a": DenseHead(3, num_layers=1), "b": DenseHead(2, num_layers=0)},
        **kwargs,
    )
    model(tf.zeros((1, 8, 8, 3)))
    return model


def _ids(variables):
    return [id(v) for v in variables]


def test_default_groups_put_every_head_variable_in_weights():
    model = _model()
    groups = model.variable_groups()
    assert list(groups) == ["weights"]
    expected = (
        model.sharing.trainable_variables
        + model.heads["a"].trainable_variables
        + model.heads["b"].trainable_variables
    )
    assert _ids(groups["weights"]) == _ids(expected)


def test_head_groups_split_head_variables_by_path():
    model = _model(head_groups=FC8)
    groups = model.variable_groups()
    a, b = model.heads["a"], model.heads["b"]
    assert _ids(groups["fc8_weights"]) == _ids(
        [a.output_conv.kernel, b.output_conv.kernel]
    )
    assert _ids(groups["fc8_biases"]) == _ids(
        [a.output_conv.bias, b.output_conv.bias]
    )
    # The hidden 3x3 conv and BN of head a stay with the trunk.
    hidden = _ids(a.hidden_layers[0].trainable_variables)
    assert set(hidden) <= set(_ids(groups["weights"]))
    total = sum(len(v) for v in groups.values())
    assert total == len(model.trainable_variables)
    with pytest.raises(ValueError, match="cannot name 'weights'"):
        _model(head_groups={"weights": "kernel"})


def test_head_groups_survive_a_config_round_trip():
    model = _model(head_groups=FC8)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)
    )
    assert clone.head_groups == FC8
    clone(tf.zeros((1, 8, 8, 3)))
    assert len(clone.variable_groups()["fc8_biases"]) == 2


def _one_step(tmp_path, name, head_groups, multipliers):
    """One plain-SGD step through the Controller; returns variables."""
    names = ("segmentation", "normals")
    source = SyntheticScenes(
        image_size=8, num_train=8, num_validation=4, num_test=4
    )
    lr = 0.05
    groups = ("weights", "fusion", *multipliers)
    optimizers = {
        "weights": lambda: keras.optimizers.SGD(lr),
        "fusion": lambda: keras.optimizers.SGD(lr),
    }
    for group, m in multipliers.items():
        optimizers[group] = lambda m=m: keras.optimizers.SGD(lr * m)
    controller = build_controller(
        model_dir=str(tmp_path / name),
        tasks=tasks_lib.tasks_for(source, names),
        model=functools.partial(
            MultiTaskModel,
            lambda: NDDR(TinyStagedBackbone, tasks=names),
            head_groups=head_groups,
        ),
        optimizers=optimizers,
        train_data=source,
        global_batch_size=4,
        schedule=Joint(groups=groups),
        checkpoint_every=100,
        seed=3,
    )
    model = controller.model
    before = [v.numpy().copy() for v in model.trainable_variables]
    controller.train(1)
    after = [v.numpy() for v in model.trainable_variables]
    paths = [v.path for v in model.trainable_variables]
    return paths, before, after


def test_multiplier_group_moves_head_variables_m_times_further(tmp_path):
    paths, start, base = _one_step(tmp_path, "base", None, {})
    paths2, start2, scaled = _one_step(
        tmp_path, "scaled", FC8, {"fc8_weights": 10.0, "fc8_biases": 20.0}
    )
    # Same variables in the same order (layer names get new suffixes).
    assert [p.split("/")[-1] for p in paths] == [
        p.split("/")[-1] for p in paths2
    ]
    checked = 0
    for path, s, s2, b, x in zip(paths, start, start2, base, scaled):
        np.testing.assert_array_equal(s, s2)  # same seed, same init
        step, step2 = b - s, x - s
        if path.endswith("output_conv/kernel"):
            m = 10.0
        elif path.endswith("output_conv/bias"):
            m = 20.0
        else:
            m = 1.0
        np.testing.assert_allclose(step2, m * step, rtol=1e-3, atol=1e-7)
        if m != 1.0:
            assert np.abs(step).max() > 1e-4, path
            checked += 1
    assert checked == 4  # two tasks x (kernel, bias)
