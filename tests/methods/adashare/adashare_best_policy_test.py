"""SaveBestPolicy keeps the policy of the best evaluation so far."""

import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.methods.adashare import AdaShare, SaveBestPolicy
from tfmtl.models.backbones import ResNet


def _controller(model_dir, unlocked=8):
    sharing = AdaShare(
        ResNet(18, stem="small", widths=(4, 4, 8, 8)), ("seg", "depth")
    )
    sharing(keras.ops.zeros((1, 16, 16, 3)), training=False)
    sharing.num_train_layers.assign(unlocked)
    summaries = []
    return types.SimpleNamespace(
        model=types.SimpleNamespace(sharing=sharing),
        model_dir=str(model_dir),
        tasks=[
            tasks_lib.make_task("seg", "segmentation", num_classes=3),
            tasks_lib.make_task("depth", "depth"),
        ],
        is_chief=True,
        writer=types.SimpleNamespace(
            images=lambda *args: summaries.append(args)
        ),
        summaries=summaries,
    )


def _read(model_dir):
    return json.loads((model_dir / "policy" / "best_policy.json").read_text())


def test_keeps_the_policy_of_the_best_evaluation(tmp_path):
    controller = _controller(tmp_path)
    sharing = controller.model.sharing
    action = SaveBestPolicy("loss/total", mode="min")
    first = np.zeros((2, 8, 2))
    first[0, :, 1] = 2.0  # "seg" skips every block
    sharing.policy_logits.assign(first)
    action(10, {"loss/total": 2.0}, controller)
    saved = _read(tmp_path)
    assert saved["step"] == 10 and saved["value"] == 2.0
    np.testing.assert_allclose(saved["logits"], first)
    np.testing.assert_allclose(
        saved["p_execute"][0], [1 / (1 + np.exp(2.0))] * 8, rtol=1e-6
    )
    # A worse evaluation leaves the file alone.
    sharing.policy_logits.assign(np.ones((2, 8, 2)))
    action(20, {"loss/total": 3.0}, controller)
    assert _read(tmp_path)["step"] == 10
    # A better one replaces it with the current policy.
    action(30, {"loss/total": 1.0}, controller)
    saved = _read(tmp_path)
    assert saved["step"] == 30 and saved["value"] == 1.0
    np.testing.assert_allclose(saved["logits"], np.ones((2, 8, 2)))
    assert (tmp_path / "policy" / "best_policy.png").exists()
    assert [s[1].keys() for s in controller.summaries] == [
        {"adashare_best_policy"}
    ] * 2


def test_policies_before_the_curriculum_ends_do_not_compete(tmp_path):
    controller = _controller(tmp_path, unlocked=7)
    action = SaveBestPolicy("loss/total")
    action(10, {"loss/total": 0.1}, controller)
    assert not (tmp_path / "policy").exists()
    assert action.best.numpy() == np.inf
    controller.model.sharing.num_train_layers.assign(8)
    action(20, {"loss/total": 0.5}, controller)
    assert _read(tmp_path)["step"] == 20


def test_scores_delta_t_against_baselines(tmp_path):
    controller = _controller(tmp_path)
    baselines = {"seg": {"miou": 0.5}, "depth": {"abs_err": 0.8}}
    action = SaveBestPolicy(baselines=baselines)

    def logs(miou, abs_err):
        return {
            "loss/total": 0.0,
            "metric/seg/miou": miou,
            "metric/depth/abs_err": abs_err,
        }

    # Δ_T = ((0.55 - 0.5) / 0.5 - (0.9 - 0.8) / 0.8) / 2 * 100 = -1.25 %.
    action(10, logs(0.55, 0.9), controller)
    saved = _read(tmp_path)
    assert saved["metric"] == "delta_t"
    assert saved["value"] == pytest.approx(-1.25)
    # +5 %: better, although the depth error went up.
    action(20, logs(0.65, 0.96), controller)
    assert _read(tmp_path)["value"] == pytest.approx(5.0)
    action(30, logs(0.5, 0.8), controller)  # 0 %: worse than +5 %
    assert _read(tmp_path)["step"] == 20


def test_best_value_is_checkpointed(tmp_path):
    controller = _controller(tmp_path)
    action = SaveBestPolicy("metric/seg/miou", mode="max")
    action(5, {"metric/seg/miou": 0.4}, controller)
    checkpoint = tf.train.Checkpoint(action=action)
    path = checkpoint.write(str(tmp_path / "ckpt"))
    restored = SaveBestPolicy("metric/seg/miou", mode="max")
    tf.train.Checkpoint(action=restored).read(path).assert_consumed()
    assert restored.best.numpy() == 0.4
    restored(6, {"metric/seg/miou": 0.3}, controller)  # not better than 0.4
    assert _read(tmp_path)["step"] == 5
    restored(7, {"metric/seg/miou": 0.5}, controller)
    assert _read(tmp_path)["step"] == 7


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        SaveBestPolicy(mode="best")
    with pytest.raises(KeyError, match="available"):
        SaveBestPolicy("metric/x")(
            1, {"loss/total": 1.0}, _controller(tmp_path)
        )


def test_policies_compete_from_the_reference_epoch_on(tmp_path):
    """Reference: sunxm2357/AdaShare `train.py::train` saves 'best' only when
    `current_iter - warm_up_iters >= num_blocks * curriculum_speed *
    (weight_iter_alternate + alpha_iter_alternate)`, that is from policy
    epoch L * curriculum_speed on: `curriculum_speed` epochs after the last
    block was unlocked (epoch (L - 1) * curriculum_speed)."""
    from tfmtl.methods.adashare import AdaShareSchedule

    warmup, weight, policy, speed, blocks = 4, 2, 2, 1, 8
    schedule = AdaShareSchedule(warmup, weight, policy)
    controller = _controller(tmp_path)  # every block unlocked
    action = SaveBestPolicy(schedule=schedule, curriculum_speed=speed)
    written = []
    for epoch in range(12):
        # The validation after the weight phase of policy epoch `epoch`:
        # our step, and the reference's current_iter (one warm-up step
        # fewer, see adashare_validation_cadence_test.py).
        step = warmup + epoch * (weight + policy) + weight
        current_iter = step - 1
        reference = current_iter - warmup >= blocks * speed * (weight + policy)
        action(step, {"loss/total": 10.0 - epoch}, controller)
        path = tmp_path / "policy" / "best_policy.json"
        written.append(path.exists() and _read(tmp_path)["step"] == step)
        assert written[-1] == reference, epoch
    assert written == [False] * 8 + [True] * 4
    with pytest.raises(ValueError, match="both"):
        SaveBestPolicy(schedule=schedule)
