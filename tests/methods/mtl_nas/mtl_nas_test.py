"""MTLNAS supernet: search space, gates, entropy, discretisation."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.mtl_nas import (
    MTLNAS,
    ArchitectureSchedule,
    draw_connectivity,
)
from tfmtl.models.backbones import VGG16
from tfmtl.models.heads import ClassifierHead
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.testing import TinyStagedBackbone
from tfmtl.trainers import Plan

IMAGES = tf.random.stateless_uniform((2, 8, 8, 3), seed=(3, 4))


def _nas(**kwargs):
    nas = MTLNAS(TinyStagedBackbone, tasks=("a", "b"), **kwargs)
    nas(IMAGES)
    return nas


def test_vgg_search_space_has_24_edges_per_task():
    nas = MTLNAS(VGG16(per_conv_blocks=True), tasks=("seg", "normals"))
    assert nas.searched_blocks == tuple(range(13))
    assert len(nas.edges[0]) == len(nas.edges[1]) == 24
    for i, s, j in nas.edges[0]:
        assert s == 1 and j <= i < j + 3
    # conv1_2 receives conv1_1 and conv1_2; conv2_1 only conv2_1.
    assert [(i, j) for i, _, j in nas.edges[0] if i in (1, 2)] == [
        (1, 0),
        (1, 1),
        (2, 2),
    ]
    window_one = MTLNAS(VGG16(per_conv_blocks=True), tasks=("a", "b"), window=1)
    assert len(window_one.edges[0]) == 13  # only same-level edges


def test_three_tasks_receive_edges_from_both_others():
    nas = MTLNAS(TinyStagedBackbone, tasks=("a", "b", "c"))
    out = nas(IMAGES, training=True)
    assert sorted(out) == ["a", "b", "c"]
    assert nas.alpha.shape == (3, 12)
    assert {s for _, s, _ in nas.edges[1]} == {0, 2}


def test_closed_gates_give_independent_single_task_networks():
    nas = _nas(alpha_init=-3.0)  # eval gates: hard, all closed
    out = nas(IMAGES, training=False)

    # Independent single-task net: backbone a with zero incoming features.
    x = IMAGES
    for index, block in enumerate(nas.branches[0].blocks):
        x = block(x, training=False)
        if index in nas.searched_blocks:
            k = sum(1 for e in nas.edges[0] if e[0] == index)
            x = nas._fusion(0, index)([x] + [tf.zeros_like(x)] * k)
    np.testing.assert_allclose(out["a"], x, atol=1e-6)

    for v in nas.branches[1].trainable_variables:
        v.assign(v + 0.5)
    again = nas(IMAGES, training=False)
    np.testing.assert_allclose(out["a"], again["a"], atol=1e-6)
    assert not np.allclose(out["b"], again["b"])


def test_init_one_zero_starts_as_single_task_networks_with_all_gates():
    closed = _nas(alpha_init=-3.0)
    opened = MTLNAS(TinyStagedBackbone, tasks=("a", "b"), eval_gates="all")
    opened(IMAGES)
    for src, dst in zip(closed.weights, opened.weights):
        if src.shape == dst.shape and "alpha" not in src.path:
            dst.assign(src)
    a = closed(IMAGES, training=False)
    b = opened(IMAGES, training=False)
    np.testing.assert_allclose(a["a"], b["a"], atol=1e-6)
    np.testing.assert_allclose(a["b"], b["b"], atol=1e-6)


def test_gate_modes():
    tf.random.set_seed(0)
    nas = _nas()
    nas.alpha.assign(tf.constant([[2.0, -1.0, 0.5, -3.0, 1.0, 0.1]] * 2))
    alpha = nas.alpha.numpy()
    np.testing.assert_allclose(
        nas._gates_for("sigmoid"), 1 / (1 + np.exp(-alpha)), rtol=1e-6
    )
    np.testing.assert_array_equal(nas._gates_for("hard"), alpha > 0)
    np.testing.assert_array_equal(nas._gates_for("all"), np.ones_like(alpha))
    bern = nas._gates_for("bernoulli").numpy()
    assert set(np.unique(bern)) <= {0.0, 1.0}
    nas.temperature.assign(1e-3)
    relaxed = nas._gates_for("relaxed_bernoulli").numpy()
    assert np.mean((relaxed < 1e-3) | (relaxed > 1 - 1e-3)) > 0.9
    nas.temperature.assign(1.0)
    samples = np.stack(
        [nas._gates_for("relaxed_bernoulli") for _ in range(400)]
    )
    np.testing.assert_allclose(
        (samples > 0.5).mean(0), 1 / (1 + np.exp(-alpha)), atol=0.1
    )
    # Training: an architecture step uses the arch-step mode (sigmoid), a
    # weight step the weight-step mode (relaxed Bernoulli); evaluation uses
    # hard gates.
    np.testing.assert_allclose(
        nas.gates(True, architecture_step=True), nas._gates_for("sigmoid")
    )
    assert not np.allclose(nas.gates(True), nas._gates_for("sigmoid"))
    np.testing.assert_array_equal(nas.gates(False), alpha > 0)
    with pytest.raises(ValueError, match="Unknown gate mode"):
        MTLNAS(TinyStagedBackbone, tasks=("a", "b"), arch_gates="gumbel_max")


def test_the_plan_given_to_the_model_picks_the_gate_mode():
    """A plan that updates `arch_group` runs the deterministic sigmoid
    gates; any other plan samples relaxed-Bernoulli gates (two calls
    differ)."""
    model = MultiTaskModel(
        # Fusion init (0.5, 0.5): incoming edges reach the output.
        MTLNAS(TinyStagedBackbone, tasks=("a", "b"), init_weights=(0.5, 0.5)),
        {"a": ClassifierHead(2), "b": ClassifierHead(2)},
    )
    model(IMAGES)

    def twice(plan):
        return [model(IMAGES, plan=plan, training=True)["a"] for _ in "ab"]

    arch = twice(Plan(("a", "b"), ("arch",)))
    np.testing.assert_allclose(arch[0], arch[1], rtol=1e-6)
    weights = twice(Plan(("a", "b"), ("weights", "fusion")))
    assert not np.allclose(weights[0], weights[1])
    one = model(IMAGES, plan=Plan(("b",), ("arch",)), training=True)
    assert list(one) == ["b"]


def test_entropy_regulariser_and_groups():
    nas = _nas(entropy_weight=2.0)
    np.testing.assert_allclose(nas.entropy(), np.log(2.0), rtol=1e-6)
    nas(IMAGES, training=True)
    np.testing.assert_allclose(nas.losses[0], 2.0 * np.log(2.0), rtol=1e-6)
    nas(IMAGES, training=False)
    assert not nas.losses
    nas.alpha.assign(tf.fill(nas.alpha.shape, 0.3))
    with tf.GradientTape() as tape:
        entropy = nas.entropy()
    grad = tape.gradient(entropy, nas.alpha).numpy()
    assert np.all(grad < 0)  # descending the entropy pushes alpha away from 0
    groups = nas.variable_groups()
    assert groups["arch"] == [nas.alpha]
    assert len(groups["fusion"]) == 2 * 4 * 3
    assert len(nas.alpha.shape) == 2 and nas.alpha.shape[1] == 6
    assert all(v is not nas.alpha for v in nas.shared_variables())
    frozen = _nas(train_architecture=False)
    assert frozen.variable_groups()["arch"] == []
    assert not frozen.alpha.trainable


def test_discretisation_round_trip(tmp_path):
    nas = _nas()
    nas.alpha.assign(tf.constant([[2.0, -1.0, 0.5, -3.0, 1.0, 0.1]] * 2))
    arch = nas.architecture()
    kept = [e for e in arch["edges"] if e["keep"]]
    assert len(arch["edges"]) == 12 and len(kept) == 8
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(arch))
    retrain = MTLNAS(
        TinyStagedBackbone,
        tasks=("a", "b"),
        architecture=str(path),
        weight_gates="hard",
        arch_gates="hard",
        train_architecture=False,
    )
    retrain(IMAGES)
    np.testing.assert_array_equal(retrain.gates(True), nas.gates(False))
    image = draw_connectivity(arch)
    assert image.dtype == np.uint8 and image.shape[-1] == 3
    assert image.shape[0] == 5 * 12 and image.shape[1] == 2 * 5 * 12 + 8
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(retrain)
    )
    assert clone.architecture_init == arch and clone.eval_gates == "hard"


def test_architecture_schedule_values():
    schedule = ArchitectureSchedule(100, entropy_period=(0.2, 0.6))
    assert schedule.temperature_at(0) == 1.0
    np.testing.assert_allclose(schedule.temperature_at(50), 0.25)
    assert schedule.temperature_at(100) == schedule.min_temperature
    assert schedule.entropy_weight_at(10) == 0.0
    np.testing.assert_allclose(schedule.entropy_weight_at(40), 5.0)
    assert schedule.entropy_weight_at(80) == 10.0
    assert ArchitectureSchedule(100).entropy_weight_at(0) == 10.0


def test_l1_penalty_weighted_by_target_width():
    nas = _nas(l1_cost_weighted=True, l1_weight=5.0)
    alpha = np.array([[2.0, -1.0, 0.5, -3.0, 1.0, 0.1], [0.0] * 6], np.float32)
    nas.alpha.assign(alpha)
    # Targets of the 6 edges: blocks 0, 1, 1, 2, 3, 3 of widths 4, 4, 4,
    # 8, 8, 8; costs are widths over their mean (6).
    cost = np.array([4, 4, 4, 8, 8, 8]) / 6.0
    expected = np.mean(cost * (1 / (1 + np.exp(-alpha))))
    np.testing.assert_allclose(nas.l1(), expected, rtol=1e-6)
    nas(IMAGES, training=True)
    np.testing.assert_allclose(nas.losses[1], 5.0 * expected, rtol=1e-6)
    with tf.GradientTape() as tape:
        penalty = nas.l1()
    assert np.all(tape.gradient(penalty, nas.alpha).numpy() > 0)
    plain = _nas()
    np.testing.assert_allclose(plain.l1(), 0.5, rtol=1e-6)  # cost 1
    plain(IMAGES, training=True)
    assert float(plain.losses[1]) == 0.0  # off by default
    schedule = ArchitectureSchedule(100, l1_weight=5.0, l1_period=(0.0, 0.5))
    np.testing.assert_allclose(schedule.l1_weight_at(25), 2.5)
    assert schedule.l1_weight_at(80) == 5.0
    off = ArchitectureSchedule(
        100, l1_weight=5.0, l1_period=(0, 0.5), l1_off=True
    )
    assert off.l1_weight_at(80) == 0.0
    assert ArchitectureSchedule(100).l1_weight_at(50) is None


def test_cross_stitch_fusion_ops_with_closed_gates_are_single_task_nets():
    nas = _nas(fusion="cross_stitch", alpha_init=-3.0)
    out = nas(IMAGES, training=False)
    x = IMAGES
    for block in nas.branches[0].blocks:
        x = block(x, training=False)  # init (1, 0): own weight 1
    np.testing.assert_allclose(out["a"], x, atol=1e-6)
    weights = nas._fusion(0, 1).kernel.numpy()
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0])  # own + 2 edges
    nas.alpha.assign(tf.fill(nas.alpha.shape, 3.0))  # open every edge
    # Still the single-task net: incoming weights start at 0 ...
    np.testing.assert_allclose(nas(IMAGES, training=False)["a"], x, atol=1e-6)
    fusion = nas._fusion(0, 1)
    fusion.kernel.assign([0.5, 0.25, 0.25])  # ... until they are learned.
    assert not np.allclose(nas(IMAGES, training=False)["a"], x, atol=1e-3)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(nas)
    )
    assert clone.fusion == "cross_stitch"
