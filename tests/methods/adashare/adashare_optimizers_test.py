"""AdaShare's optimizers: coupled L2, variable groups, per-phase binding."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.adashare import (
    SGDL2,
    AdamL2,
    AdaShare,
    AdaShareSchedule,
    expand_optimizers,
)
from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def _torch_adam(w, grads, lr, b1, b2, eps, l2):
    """PyTorch's Adam(weight_decay=l2) by hand: decay added to the grad."""
    m = v = np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        g = g + l2 * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def test_adam_and_sgd_with_coupled_l2_match_hand_computations():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=4)
    grads = [rng.normal(size=4) * 1e-3 for _ in range(3)]
    var = tf.Variable(w0, dtype=tf.float64)
    adam = AdamL2(l2=0.5, learning_rate=0.1, beta_1=0.5, epsilon=1e-12)
    for g in grads:
        adam.apply_gradients([(tf.constant(g), var)])
    expected = _torch_adam(w0, grads, 0.1, 0.5, 0.999, 1e-12, 0.5)
    # Keras keeps learning rate and betas in float32.
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-4)
    # Decoupled decay (Keras' weight_decay) gives another answer here.
    assert (
        np.abs(
            expected - _torch_adam(w0, grads, 0.1, 0.5, 0.999, 1e-8, 0)
        ).max()
        > 1e-3
    )
    var = tf.Variable(w0, dtype=tf.float64)
    sgd = SGDL2(l2=0.5, learning_rate=0.1, momentum=0.9)
    w, buf = w0.copy(), np.zeros(4)
    for g in grads:
        sgd.apply_gradients([(tf.constant(g), var)])
        buf = 0.9 * buf - 0.1 * (g + 0.5 * w)  # Keras' momentum form
        w = w + buf
    np.testing.assert_allclose(var.numpy(), w, rtol=1e-6)
    assert np.abs(sgd.momentums[0].numpy()).max() > 0
    sgd.reset_momentum()
    np.testing.assert_array_equal(sgd.momentums[0].numpy(), 0.0)
    assert AdamL2.from_config(adam.get_config()).l2 == 0.5


def test_groups_split_heads_trunk_and_weight_phase():
    sharing = AdaShare(
        ResNet(18, stem="small", widths=(4, 4, 8, 8)),
        ("a", "b"),
        backbone_group="backbone",
        alternate_group="alternate",
    )
    model = MultiTaskModel(sharing, {"a": DenseHead(2), "b": DenseHead(1)})
    model(tf.zeros((1, 16, 16, 3)))
    groups = model.variable_groups()

    def ids(variables):
        return sorted(id(v) for v in variables)

    trunk = ids(sharing.backbone.trainable_variables)
    heads = model.heads["a"].trainable_variables
    heads += model.heads["b"].trainable_variables
    assert ids(groups["backbone"]) == ids(groups["alternate"]) == trunk
    assert ids(groups["weights"]) == ids(heads)
    assert ids(groups["alternate/a"]) == ids(
        model.heads["a"].trainable_variables
    )
    assert groups["arch"] == [sharing.policy_logits]
    schedule = AdaShareSchedule(
        1, 1, 1, weight_groups=("alternate", "alternate/{task}")
    ).bind(("a", "b"))
    assert schedule(1).groups == ("alternate", "alternate/a", "alternate/b")
    assert set(expand_optimizers({"x/{task}": 1, "y": 2}, ("a", "b"))) == {
        "x/a",
        "x/b",
        "y",
    }
    with pytest.raises(ValueError, match="alternate_group"):
        AdaShare(ResNet(18), ("a",), alternate_group="weights")


@pytest.mark.large
def test_gin_config_binds_the_reference_optimizer_per_phase(
    tmp_path, run_gin_experiment
):
    _, built = run_gin_experiment(
        [os.path.join(ROOT, "gin_configs/adashare/nyu_v2_2task_synthetic.gin")],
        [f"MODEL_DIR = '{tmp_path}'", "TRAIN_STEPS = 12"],
    )
    controller = built[0]
    opts = controller.optimizers
    assert sorted(opts) == [
        "alternate",
        "alternate/normals",
        "alternate/segmentation",
        "arch",
        "backbone",
        "weights",
    ]
    for group in ("weights", "backbone"):
        assert type(opts[group]) is AdamL2
        assert opts[group].beta_1 == 0.5 and opts[group].l2 == 1e-4
    for group in ("alternate", "alternate/segmentation"):
        assert type(opts[group]) is SGDL2 and opts[group].momentum == 0.9
    assert type(opts["arch"]) is keras.optimizers.Adam
    assert float(opts["arch"].learning_rate) == pytest.approx(0.01)
    # 4 warm-up steps, then 2 cycles of 2 weight + 2 policy steps: each
    # optimizer stepped exactly in its own phase.
    steps = {g: int(o.iterations) for g, o in opts.items()}
    assert steps == dict.fromkeys(opts, 4)
    # Step 12 starts a weight phase: the SGD momentum of the last one is
    # carried over, as the reference builds its SGD once (train.py; #15
    # item 7), not reset.
    for group in ("alternate", "alternate/segmentation"):
        assert any(np.any(m.numpy() != 0.0) for m in opts[group].momentums)
    # The learned policy as PNG and as a TensorBoard image.
    from tensorboard.backend.event_processing import event_accumulator as ea

    assert (tmp_path / "policy" / "policy.png").exists()
    events = ea.EventAccumulator(
        str(tmp_path / "train"), size_guidance={ea.TENSORS: 0}
    )
    events.Reload()
    assert "dense/adashare_policy" in events.Tags()["tensors"]
