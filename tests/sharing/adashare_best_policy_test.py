"""SaveBestPolicy keeps the policy of the best evaluation so far."""

import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.models.backbones import ResNet
from tfmtl.sharing.adashare import AdaShare, SaveBestPolicy


def _controller(model_dir):
    sharing = AdaShare(
        ResNet(18, stem="small", widths=(4, 4, 8, 8)), ("seg", "depth")
    )
    sharing(keras.ops.zeros((1, 16, 16, 3)), training=False)
    summaries = []
    return types.SimpleNamespace(
        model=types.SimpleNamespace(sharing=sharing),
        model_dir=str(model_dir),
        cluster=types.SimpleNamespace(is_chief=True),
        _writers=types.SimpleNamespace(
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
    values = (2.0, 3.0, 1.0)
    first = np.zeros((2, 8, 2))
    first[0, :, 1] = 2.0  # "seg" skips every block
    sharing.policy_logits.assign(first)
    action(10, {"loss/total": values[0]}, controller)
    saved = _read(tmp_path)
    assert saved["step"] == 10 and saved["value"] == values[0]
    np.testing.assert_allclose(saved["logits"], first)
    np.testing.assert_allclose(
        saved["p_execute"][0], [1 / (1 + np.exp(2.0))] * 8, rtol=1e-6
    )
    # A worse evaluation leaves the file alone.
    sharing.policy_logits.assign(np.ones((2, 8, 2)))
    action(20, {"loss/total": values[1]}, controller)
    assert _read(tmp_path)["step"] == 10
    # A better one replaces it with the current policy.
    action(30, {"loss/total": values[2]}, controller)
    saved = _read(tmp_path)
    assert saved["step"] == 30 and saved["value"] == values[2]
    np.testing.assert_allclose(saved["logits"], np.ones((2, 8, 2)))
    assert (tmp_path / "policy" / "best_policy.png").exists()
    assert [s[1].keys() for s in controller.summaries] == [
        {"adashare_best_policy"}
    ] * 2


def test_max_mode_best_value_is_checkpointed(tmp_path):
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
        SaveBestPolicy("metric/x")(1, {"loss/total": 1.0}, None)
