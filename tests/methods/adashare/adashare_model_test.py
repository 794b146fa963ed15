"""AdaShare's gated trunk, policies, regularisers and schedule."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.adashare import (
    AdaShare,
    AdaShareSchedule,
    curriculum_state,
    gumbel_softmax,
    hard_sample,
    sample_policy,
    sharing_loss,
    sparsity_loss,
)
from tfmtl.models.backbones import ResNet

TASKS = ("a", "b")
L = 8


def _backbone():
    return ResNet(18, stem="small", widths=(4, 4, 8, 8))


def _images():
    return tf.random.stateless_uniform([2, 16, 16, 3], seed=[1, 2])


def _shortcut_path(backbone, images):
    x = backbone.stem(images, training=False)
    for block in backbone.blocks:
        x = block.shortcut(x, training=False)
    return x


def test_all_skip_fixed_policy_is_the_shortcut_path():
    backbone = _backbone()
    sharing = AdaShare(backbone, TASKS, policy={t: [0] * L for t in TASKS})
    images = _images()
    out = sharing(images, training=False)
    expected = _shortcut_path(backbone, images)
    for task in TASKS:
        np.testing.assert_allclose(out[task], expected, atol=1e-6)
    # Stages 2-4 project on their first block, so the path is not identity.
    assert out["a"].shape[-1] == 8


def test_learned_policy_skipping_everything_is_the_shortcut_path():
    backbone = _backbone()
    sharing = AdaShare(backbone, TASKS, eval_policy="argmax")
    images = _images()
    sharing(images, training=False)
    sharing.policy_logits.assign(
        np.tile([[-10.0, 10.0]], (2, L, 1)).astype(np.float32)
    )
    sharing.num_train_layers.assign(L)
    out = sharing(images, training=False)
    np.testing.assert_allclose(
        out["b"], _shortcut_path(backbone, images), atol=1e-6
    )
    # Before the curriculum unlocks blocks every block executes.
    sharing.num_train_layers.assign(0)
    out = sharing(images, training=False)
    np.testing.assert_allclose(
        out["a"], backbone(images, training=False), atol=1e-5
    )


def test_all_execute_policy_is_the_plain_backbone_and_prefixes_are_shared():
    backbone = _backbone()
    policy = {"a": [1] * L, "b": [1] * L, "c": [1, 1, 0, 1, 0, 1, 1, 0]}
    sharing = AdaShare(backbone, ("a", "b", "c"), policy=policy)
    images = _images()
    out = sharing(images, training=False)
    full = backbone(images, training=False)
    np.testing.assert_allclose(out["a"], full, atol=1e-5)
    assert out["a"] is out["b"]  # identical policies share the computation
    assert not np.allclose(out["c"], full, atol=1e-3)


def test_soft_gates_mix_block_output_and_shortcut():
    sharing = AdaShare(_backbone(), TASKS)
    images = _images()
    sharing(images, training=True)
    sharing.num_train_layers.assign(L)
    gates = sharing.gates(training=True).numpy()
    assert gates.shape == (2, L, 2)
    np.testing.assert_allclose(gates.sum(-1), 1.0, atol=1e-6)
    assert np.all((gates > 0) & (gates < 1))
    sharing.num_train_layers.assign(3)
    gates = sharing.gates(training=True).numpy()
    np.testing.assert_array_equal(gates[:, : L - 3, 0], 1.0)
    groups = sharing.variable_groups()
    assert [id(v) for v in groups["arch"]] == [id(sharing.policy_logits)]
    assert id(sharing.policy_logits) not in {id(v) for v in groups["weights"]}


def test_training_call_adds_the_regularisers():
    sharing = AdaShare(
        _backbone(),
        TASKS,
        sparsity_weight=0.5,
        sharing_weight=0.0,
        policy_weight_decay=0.0,
    )
    sharing(_images(), training=True)
    sharing.num_train_layers.assign(2)
    sharing(_images(), training=True)
    # Equal logits: -log p(skip) = log 2 per block, mean over blocks, summed
    # over the two tasks.
    np.testing.assert_allclose(
        float(sharing.losses[-1]), 0.5 * 2 * np.log(2.0), rtol=1e-5
    )


def test_gumbel_frequencies_match_softmax_probabilities():
    logits = tf.constant([[1.0, 0.0, -1.0], [0.3, 2.0, -0.5]])
    probs = tf.nn.softmax(logits).numpy()
    n = 20000
    tiled = tf.tile(logits[None], [n, 1, 1])
    tf.random.set_seed(0)
    hard = gumbel_softmax(tiled, temperature=1.0, hard=True).numpy()
    np.testing.assert_allclose(hard.mean(0), probs, atol=0.015)
    np.testing.assert_allclose(hard.sum(-1), 1.0)
    categorical = hard_sample(tiled).numpy()
    np.testing.assert_allclose(categorical.mean(0), probs, atol=0.015)
    # The soft sample's argmax has the same law at any temperature.
    soft = gumbel_softmax(tiled, temperature=5.0).numpy()
    freq = np.eye(3)[soft.argmax(-1)].mean(0)
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_sample_policy_is_seeded_bernoulli_and_respects_curriculum():
    logits = np.zeros((2, L, 2))
    logits[0, :, 0] = np.log(0.8 / 0.2)  # p(execute) = 0.8
    draws = np.stack([sample_policy(logits, s) for s in range(2000)])
    np.testing.assert_allclose(draws[:, 0].mean(), 0.8, atol=0.02)
    np.testing.assert_allclose(draws[:, 1].mean(), 0.5, atol=0.02)
    np.testing.assert_array_equal(
        sample_policy(logits, 3), sample_policy(logits, 3)
    )
    limited = sample_policy(
        np.full((2, L, 2), [-9.0, 9.0]), 0, num_train_layers=3
    )
    np.testing.assert_array_equal(limited[:, : L - 3], 1)
    np.testing.assert_array_equal(limited[:, L - 3 :], 0)


def test_regulariser_values():
    logits = np.zeros((3, 4, 2), np.float32)
    logits[1, :, 0] = [1.0, 2.0, 0.0, 0.0]
    logits[2, :, 0] = [0.0, 0.0, 0.0, 4.0]
    # depth weights (l + 1) / L: pairs (0,1): .25 + 1, (0,2): 4, (1,2): .25
    # + 1 + 4.
    np.testing.assert_allclose(float(sharing_loss(logits)), 10.5)
    # paper weights (L - l) / L.
    np.testing.assert_allclose(
        float(sharing_loss(logits, "paper")), 1 + 1.5 + 1 + 1 + 1.5 + 1
    )
    zero = np.zeros((2, 4, 2), np.float32)
    assert float(sparsity_loss(zero, 0)) == 0.0
    np.testing.assert_allclose(float(sparsity_loss(zero, 3)), 2 * np.log(2.0))


def test_schedule_and_curriculum():
    schedule = AdaShareSchedule(3, 2, 1).bind(TASKS)
    plans = [schedule(s) for s in range(9)]
    assert [p.data for p in plans] == ["train"] * 3 + [
        "train1",
        "train1",
        "train2",
    ] * 2
    assert [p.groups for p in plans[3:6]] == [("weights",)] * 2 + [("arch",)]
    assert len(schedule.plans()) == 3
    assert curriculum_state(2, 3, 3, L) == (5.0, 0)
    assert curriculum_state(3, 3, 3, L, curriculum_speed=3) == (5.0, 1)
    t, k = curriculum_state(3 + 3 * 7, 3, 3, L, curriculum_speed=3)
    assert k == 3 and t == pytest.approx(5.0 * 0.965**7)
    assert curriculum_state(10**6, 3, 3, L, curriculum_speed=1)[1] == L


def test_config_round_trip_and_bad_policy():
    sharing = AdaShare(_backbone(), TASKS, policy={t: [1] * L for t in TASKS})
    clone = AdaShare.from_config(sharing.get_config())
    assert clone.policy == sharing.policy
    with pytest.raises(ValueError, match="decisions"):
        AdaShare(_backbone(), TASKS, policy={"a": [1] * L})
