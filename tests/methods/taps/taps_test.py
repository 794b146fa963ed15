"""TAPS sharing: any backbone, penalty and warm-up, sequential and joint
training, pretrained bases, exports and the layer map."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.taps import (
    TAPS,
    BaseNotFoundError,
    TAPSBatchNormalization,
    TAPSConv2D,
    TAPSSummaries,
    TAPSWarmup,
    export_compact,
    export_merged,
    layer_map_image,
    load_compact,
)
from tfmtl.methods.taps.base_loading import _kernel_layers
from tfmtl.models.backbones import ResNet, builders
from tfmtl.sharing import HardSharing
from tfmtl.trainers import build_controller

STEPS = int(os.environ.get("TAPS_TEST_STEPS", "30"))
_SOURCE = SyntheticScenes(
    image_size=16, num_train=64, num_validation=16, num_test=16
)


@keras.saving.register_keras_serializable(package="tfmtl_test")
class TinyNet(keras.layers.Layer):
    """Six conv-norm-ReLU units with swappable conv / norm: a cheap backbone
    (any backbone with a `conv` argument becomes TAPS-enabled)."""

    def __init__(
        self,
        widths=(8, 8, 8, 8, 8, 8),
        conv="Conv2D",
        norm="BatchNormalization",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.widths = tuple(widths)
        self.conv = builders.resolve_layer_class(conv)
        self.norm = builders.resolve_layer_class(norm)
        self.units = []
        for i, width in enumerate(self.widths):
            self.units += builders.make_conv(
                self.conv, width, 3, strides=1 + i % 2, name=f"conv{i}"
            )
            self.units += [
                builders.make_norm(self.norm, False, 0.9, 1e-5, name=f"bn{i}"),
                keras.layers.ReLU(),
            ]

    def build(self, input_shape):
        builders.build_layers(self.units, builders.free_spatial(input_shape))

    def call(self, images, training=None):
        return builders.apply_layers(self.units, images, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "widths": list(self.widths),
                "conv": builders.layer_class_name(self.conv),
                "norm": builders.layer_class_name(self.norm),
            }
        )
        return config


def _controller(model_dir, names, sharing, actions=(), lr=0.05):
    return build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(_SOURCE, names),
        sharing=sharing,
        optimizers={"weights": lambda: keras.optimizers.SGD(lr, momentum=0.9)},
        train_data=_SOURCE,
        global_batch_size=8,
        actions=list(actions),
        checkpoint_every=1000,
        summary_every=1000,
    )


@pytest.mark.parametrize("depth, gated", [(34, 36), (50, 53)])
def test_resnets_become_taps_enabled(depth, gated):
    # The reference gates every convolution: 36 in ResNet-34, 53 in -50.
    taps = TAPS(ResNet(depth, widths=(4, 4, 4, 4)), ("a", "b"))
    assert len(taps.gated_layers()) == gated
    assert all(x.num_tasks == 2 for x in taps.gated_layers())
    norms = [
        x
        for x in taps.backbone._flatten_layers()
        if isinstance(x, TAPSBatchNormalization)
    ]
    assert len(norms) == gated
    assert all(x.num_tasks == 2 for x in norms)


def test_penalty_normalizer_gated_layers_option_and_bad_values():
    taps = TAPS(TinyNet(), ("a",), lam=2.0, penalty_normalizer="gated_layers")
    taps(tf.zeros((1, 8, 8, 3)))
    taps.penalty_scale.assign(1.0)
    # λ * mean |s| over the 6 gated layers.
    np.testing.assert_allclose(float(taps.penalty()), 2.0 * 0.15, 1e-6)
    for bad in (None, 0, -1.0, "layers"):
        with pytest.raises(ValueError, match="penalty_normalizer"):
            TAPS(TinyNet(), ("a",), penalty_normalizer=bad)


def test_penalty_warmup_and_ramp():
    taps = TAPS(TinyNet(), ("a", "b"), lam=2.0, warmup_steps=2, ramp_steps=4)
    features = taps(tf.zeros((1, 8, 8, 3)), tasks=("b",))
    assert list(features) == ["b"]
    assert [taps.scale_at(k) for k in range(7)] == [
        0.0,
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
        1.0,
    ]
    assert float(taps.losses[0]) == 0.0  # warm-up: no penalty
    taps.gated_layers()[0].scores[1].assign(-0.45)
    taps.penalty_scale.assign(taps.scale_at(5))
    # The reference's rule (TAPS train_sequential.py, `train`):
    # lam * sum(|indicators|) / 52 whatever the network.
    expected = 2.0 * (5 * 0.15 + 0.45) / 52
    np.testing.assert_allclose(float(taps.penalty(("b",))), expected, 1e-6)
    assert taps.layers_tuned() == {"a": 1.0, "b": pytest.approx(5 / 6)}
    assert taps.parameters_changed()["b"] == pytest.approx(1 - 216 / 3096)


def test_larger_lambda_tunes_fewer_layers(tmp_path):
    tuned, mean_scores = [], []
    for lam in (0.0, 0.3, 1.0):
        controller = _controller(
            tmp_path / str(lam),
            ["attr_c0"],
            # The tiny net has 6 gated layers: divide by those, not by the
            # reference's 52, so these λ bite within 30 steps.
            lambda lam=lam: TAPS(
                TinyNet(),
                ("attr_c0",),
                lam=lam,
                penalty_normalizer="gated_layers",
            ),
        )
        controller.train(STEPS)
        taps = controller.model.sharing
        tuned.append(taps.layers_tuned()["attr_c0"])
        mean_scores.append(float(taps.scores().mean()))
    # Measured (seed 0, 30 steps, a fresh initializer per conv): mean
    # score 0.174, 0.125, 0.050 (with one shared initializer, i.e.
    # identical same-shaped kernels: 0.167, 0.038, 0.011).
    assert tuned[0] >= tuned[1] >= tuned[2], tuned
    assert tuned[0] > tuned[2] and tuned[0] >= 0.8, tuned
    # The penalty pushes every score down: the mean score falls strictly.
    assert mean_scores[0] > mean_scores[1] + 0.025, mean_scores
    assert mean_scores[1] > mean_scores[2] + 0.025, mean_scores


def test_joint_taps_trains_base_and_per_task_deltas(tmp_path):
    names = ["attr_a0", "attr_b0"]
    controller = _controller(
        tmp_path,
        names,
        lambda: TAPS(TinyNet(), names, train_base=True, lam=0.1),
    )
    taps = controller.model.sharing
    first = taps.gated_layers()[0]
    base = np.array(first.base_kernel)
    controller.train(3)
    assert not np.allclose(base, first.base_kernel)
    for t in range(2):
        assert np.abs(np.asarray(first.deltas[t])).sum() > 0
    assert not np.allclose(first.deltas[0], first.deltas[1])
    assert len(taps.shared_variables()) == 6
    # Task b reads its own deltas and norms: its features differ from a's.
    x = tf.random.stateless_uniform((2, 16, 16, 3), (0, 0))
    features = taps(x, training=False)
    assert not np.allclose(features["attr_a0"], features["attr_b0"])


def _base_run(tmp_path):
    def sharing():
        return HardSharing(TinyNet(), tasks=("attr_a0",))

    base = _controller(tmp_path / "base", ["attr_a0"], sharing)
    base.train(2)
    base.export()
    return base


def test_sequential_taps_from_base_and_exports(tmp_path):
    base = _base_run(tmp_path)
    backbone = base.model.sharing.backbone
    paths = {
        "checkpoint": base.latest_checkpoint(),
        "keras": os.path.join(base.model_dir, "export", "model.keras"),
    }
    x = tf.random.stateless_uniform((3, 16, 16, 3), (1, 2))
    expected = backbone(x, training=False)
    for kind, path in paths.items():
        keras.backend.clear_session()
        taps = TAPS(
            TinyNet(),
            ("attr_c0",),
            base=path,
        )
        taps.build((None, 16, 16, 3))
        for layer in taps.gated_layers():
            layer.deltas[0].assign(tf.ones_like(layer.deltas[0]))
            layer.scores[0].assign(0.0)  # all off: exactly the base
        np.testing.assert_allclose(
            taps(x, training=False)["attr_c0"],
            expected,
            atol=1e-5,
            err_msg=kind,
        )

    # Train TAPS on a new task from the checkpoint, with summaries.
    controller = _controller(
        tmp_path / "taps",
        ["attr_c0"],
        lambda: TAPS(
            TinyNet(),
            ("attr_c0",),
            lam=0.5,
            base=str(tmp_path / "base"),
        ),
        actions=[TAPSWarmup(), TAPSSummaries(4, train_error_steps=1)],
    )
    taps = controller.model.sharing
    # Sequential TAPS trains deltas, scores and norms, never the base.
    trainable = {id(v) for v in controller.model.trainable_variables}
    assert not any(id(x.base_kernel) in trainable for x in taps.gated_layers())
    assert taps.shared_variables() == []
    frozen = np.array(taps.gated_layers()[3].base_kernel)
    controller.train(4)
    # The base really arrived through the Controller's build (Keras may
    # trace a build in a mode that drops assignments).
    base_kernels = [np.asarray(x._kernel) for x in _kernel_layers(backbone)]
    taps_kernels = [
        np.asarray(x._kernel) for x in _kernel_layers(taps.backbone)
    ]
    assert len(base_kernels) == len(taps_kernels)
    for got, want in zip(taps_kernels, base_kernels):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(frozen, taps.gated_layers()[3].base_kernel)
    assert os.path.exists(os.path.join(controller.model_dir, "taps_layers.png"))
    # Switch some layers off so the compact export is really sparse.
    for layer in taps.gated_layers()[::2]:
        layer.scores[0].assign(0.01)
    outputs = controller.model(x, training=False)["attr_c0"]

    stored = export_compact(
        controller.model, str(tmp_path / "compact"), (16, 16, 3)
    )
    sizes = [np.prod(v.base_kernel.shape) for v in taps.gated_layers()]
    active = taps.active_layers()[0]
    assert stored["attr_c0"] == sum(s for s, a in zip(sizes, active) if a)
    assert 0 < stored["attr_c0"] < sum(sizes)
    reloaded = load_compact(str(tmp_path / "compact"))
    np.testing.assert_allclose(
        reloaded(x, training=False)["attr_c0"], outputs, atol=1e-5
    )
    merged = export_merged(controller.model, str(tmp_path / "m"), (16, 16, 3))
    plain = keras.saving.load_model(merged["attr_c0"])
    assert not any(isinstance(x, TAPSConv2D) for x in plain._flatten_layers())
    np.testing.assert_allclose(
        plain(x, training=False)["attr_c0"], outputs, atol=1e-4
    )


def test_missing_base_is_a_clear_error(tmp_path):
    taps = TAPS(TinyNet(), ("a",), base=str(tmp_path / "nope.keras"))
    with pytest.raises(BaseNotFoundError, match="nope.keras"):
        taps.build((None, 8, 8, 3))
    taps = TAPS(ResNet(50), ("a",), base=str(tmp_path / "r50.weights.h5"))
    with pytest.raises(BaseNotFoundError, match="r50.weights.h5"):
        taps.build((None, 32, 32, 3))
    taps = TAPS(TinyNet(), ("a",), base=str(tmp_path))  # no checkpoint
    with pytest.raises(BaseNotFoundError, match="no checkpoint"):
        taps.build((None, 8, 8, 3))
    taps = TAPS(TinyNet(), ("a",), base=str(tmp_path / "ckpt-9"))
    with pytest.raises(FileNotFoundError, match="ckpt-9"):
        taps.build((None, 8, 8, 3))


def test_layer_map_image():
    image = layer_map_image([[True, False, True], [False, False, True]])
    assert image.shape == (16, 24, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (217, 95, 2)
    assert tuple(image[0, 8]) == (220, 220, 220)
    assert tuple(image[7, 0]) == (255, 255, 255)  # gap


def test_keras_applications_resnet50_base(tmp_path):
    app = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    rng = np.random.default_rng(0)
    for layer in app.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(rng.normal(size=layer.bias.shape))
    app.save(tmp_path / "app.keras")
    app.save_weights(tmp_path / "resnet50_notop.weights.h5")
    for path in ("app.keras", "resnet50_notop.weights.h5"):
        taps = TAPS(ResNet(50), ("a",), base=str(tmp_path / path))
        taps.build((None, 32, 32, 3))
        block = taps.backbone.blocks[3]  # stage 2, block 1 (conv3_block1)
        conv2 = next(x for x in block.residual_layers if x.name == "conv2")
        np.testing.assert_array_equal(
            conv2.base_kernel, app.get_layer("conv3_block1_2_conv").kernel
        )
        # The projection's conv bias is folded into its batch norm's mean.
        np.testing.assert_allclose(
            block.shortcut_layers[-1].norms[0].moving_mean,
            -np.asarray(app.get_layer("conv3_block1_0_conv").bias),
            rtol=1e-6,
        )
