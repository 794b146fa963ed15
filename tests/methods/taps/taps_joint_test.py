"""Joint TAPS on DomainNet folders: round robin over the domains with
gradient accumulation, per-domain validation and training error, and the
TensorBoard summaries the issue asks for."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator as ea

from tfmtl.data.domainnet import DomainNet
from tfmtl.methods.taps import (
    TAPS,
    TAPSSummaries,
    TAPSWarmup,
    export_compact,
    export_merged,
    load_compact,
    own_data_tasks,
    round_robin,
    task_streams,
)
from tfmtl.models.backbones import builders
from tfmtl.trainers import build_controller

DOMAINS = ("clipart", "real")
CLASSES = ("apple", "bee", "car")
# Images per class: clipart's and real's splits have different label mixes.
COUNTS = {
    ("clipart", "train"): (3, 1, 1),
    ("real", "train"): (1, 1, 2),
    ("clipart", "test"): (2, 1, 0),
    ("real", "test"): (1, 0, 3),
}


@keras.saving.register_keras_serializable(package="tfmtl_taps_joint_test")
class ThreeConvs(keras.layers.Layer):
    """conv-norm-ReLU x 3 with swappable conv / norm (a cheap backbone)."""

    def __init__(self, conv="Conv2D", norm="BatchNormalization", **kwargs):
        super().__init__(**kwargs)
        self.conv = builders.resolve_layer_class(conv)
        self.norm = builders.resolve_layer_class(norm)
        self.units = []
        for i in range(3):
            self.units += builders.make_conv(
                self.conv, 8, 3, strides=2, name=f"conv{i}"
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
        config["conv"] = builders.layer_class_name(self.conv)
        config["norm"] = builders.layer_class_name(self.norm)
        return config


def _tree(root):
    rng = np.random.default_rng(0)
    for (domain, split), counts in COUNTS.items():
        for name, n in zip(CLASSES, counts):
            folder = os.path.join(root, domain, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                tf.io.write_file(
                    os.path.join(folder, f"{i}.png"), tf.io.encode_png(pixels)
                )


def _scalars(run_dir):
    acc = ea.EventAccumulator(run_dir, size_guidance={ea.TENSORS: 0})
    acc.Reload()
    return {
        tag: float(tf.make_ndarray(acc.Tensors(tag)[-1].tensor_proto))
        for tag in acc.Tags()["tensors"]
        if acc.Tensors(tag)[-1].tensor_proto.dtype
        == tf.float32.as_datatype_enum
    }, set(acc.Tags()["tensors"])


def test_joint_taps_per_domain_errors_and_summaries(tmp_path):
    _tree(tmp_path / "DomainNet")
    source = DomainNet(tmp_path / "DomainNet", domains=DOMAINS, image_size=16)
    summaries = TAPSSummaries(every_n_steps=2, train_error_steps=1)
    controller = build_controller(
        model_dir=str(tmp_path / "run"),
        tasks=own_data_tasks(source),
        sharing=lambda: TAPS(ThreeConvs(), DOMAINS, train_base=True, lam=0.5),
        optimizers={"weights": lambda: keras.optimizers.SGD(0.1, momentum=0.9)},
        train_data=source,
        global_batch_size=2,
        accumulation_steps=2,
        schedule=round_robin(DOMAINS),
        train_splits=task_streams(DOMAINS),
        eval_split="test",
        eval_batch_size=8,
        actions=[TAPSWarmup(), summaries],
        summary_every=2,
        checkpoint_every=1000,
    )
    model, taps = controller.model, controller.model.sharing
    heads = {d: np.array(model.heads[d].weights[0]) for d in DOMAINS}
    base = np.array(taps.gated_layers()[1].base_kernel)
    controller.train(2)
    # One round = one update, and it reaches both domains' heads (the
    # first micro-step trained clipart, the update step real).
    iterations = controller.optimizers["weights"].iterations
    assert int(keras.ops.convert_to_numpy(iterations.value)) == 1
    for d in DOMAINS:
        assert not np.allclose(heads[d], model.heads[d].weights[0]), d
    assert not np.allclose(base, taps.gated_layers()[1].base_kernel)

    # Constant heads: clipart always says apple, real always says car.
    for domain, favourite in (("clipart", 0), ("real", 2)):
        kernel, bias = model.heads[domain].weights
        kernel.assign(tf.zeros_like(kernel))
        bias.assign(tf.one_hot(favourite, 3))
    results = controller.evaluate()
    # Each domain is scored on its own test images only: clipart 1 of 3
    # wrong (all 7 images: 4 of 7), real 1 of 4 wrong (all: 4 of 7).
    assert results["metric/clipart/error"] == pytest.approx(1 / 3)
    assert results["metric/real/error"] == pytest.approx(1 / 4)
    # Own-domain validation loss of the constant logits one_hot(favourite):
    # clipart 2 hits, 1 miss; real 3 hits, 1 miss.
    hit, miss = np.log(1 + 2 / np.e), np.log(np.e + 2)
    assert results["metric/clipart/loss"] == pytest.approx(
        (2 * hit + miss) / 3, rel=1e-5
    )
    assert results["metric/real/loss"] == pytest.approx(
        (3 * hit + miss) / 4, rel=1e-5
    )
    summaries(controller.step, {}, controller.context)
    controller.writers.flush()

    train, train_tags = _scalars(str(tmp_path / "run" / "train"))
    evaluation, _ = _scalars(str(tmp_path / "run" / "eval"))
    # Validation error per domain, as computed above.
    assert evaluation["metric/clipart/error"] == pytest.approx(1 / 3)
    assert evaluation["metric/real/error"] == pytest.approx(1 / 4)
    # Training error on each domain's own training images: clipart 2 of 5
    # not apple, real 2 of 4 not car; training loss is the mean CE of the
    # constant logits one_hot(favourite) over those images.
    assert train["taps/train_error/clipart"] == pytest.approx(2 / 5)
    assert train["taps/train_error/real"] == pytest.approx(2 / 4)
    assert train["taps/train_loss/clipart"] == pytest.approx(
        (3 * hit + 2 * miss) / 5, rel=1e-5
    )
    assert train["taps/train_loss/real"] == pytest.approx(
        (2 * hit + 2 * miss) / 4, rel=1e-5
    )
    # Training objective per task, % layers tuned, % parameters changed.
    for d in DOMAINS:
        assert f"loss/{d}" in train_tags
        tuned = 100.0 * taps.layers_tuned()[d]
        changed = 100.0 * taps.parameters_changed()[d]
        assert train[f"taps/layers_tuned/{d}"] == pytest.approx(tuned)
        assert train[f"taps/parameters_changed/{d}"] == pytest.approx(changed)
    # Switch layers off: the logged fractions follow the scores.
    taps.gated_layers()[0].scores[0].assign(0.0)
    summaries(controller.step + 1, {}, controller.context)
    controller.writers.flush()
    train, _ = _scalars(str(tmp_path / "run" / "train"))
    assert train["taps/layers_tuned/clipart"] == pytest.approx(200 / 3)
    # The first layer's kernel is 3*3*3*8 of 3*3*(3+8+8)*8 parameters.
    assert train["taps/parameters_changed/clipart"] == pytest.approx(
        100 * (1 - 27 / 171)
    )

    # Compact (base + each domain's tuned deltas) and merged exports
    # reproduce every domain's outputs of the jointly trained model.
    x = tf.random.stateless_uniform((2, 16, 16, 3), (3, 4))
    for d in DOMAINS:  # non-constant heads again
        kernel = model.heads[d].weights[0]
        kernel.assign(tf.random.stateless_normal(kernel.shape, (5, 6)))
    outputs = model(x, training=False)
    stored = export_compact(model, str(tmp_path / "compact"), (16, 16, 3))
    sizes = [int(np.prod(x.base_kernel.shape)) for x in taps.gated_layers()]
    assert stored == {"clipart": sum(sizes[1:]), "real": sum(sizes)}
    reloaded = load_compact(str(tmp_path / "compact"))
    merged = export_merged(model, str(tmp_path / "merged"), (16, 16, 3))
    for d in DOMAINS:
        np.testing.assert_allclose(
            reloaded(x, training=False)[d], outputs[d], atol=1e-5
        )
        plain = keras.saving.load_model(merged[d])
        np.testing.assert_allclose(
            plain(x, training=False)[d], outputs[d], atol=1e-4
        )


def test_taps_accumulation_under_mirrored_strategy(tmp_path, mirrored_strategy):
    # Keras' own gradient_accumulation_steps fails here (merge_call inside a
    # cond); the trainer's accumulation matches one device.
    _tree(tmp_path / "DomainNet")
    source = DomainNet(tmp_path / "DomainNet", domains=DOMAINS, image_size=16)

    def run(name, strategy):
        controller = build_controller(
            model_dir=str(tmp_path / name),
            tasks=own_data_tasks(source),
            sharing=lambda: TAPS(ThreeConvs(), DOMAINS, lam=0.5),
            optimizers={
                "weights": lambda: keras.optimizers.SGD(0.1, momentum=0.9)
            },
            train_data=source,
            global_batch_size=4,
            accumulation_steps=2,
            schedule=round_robin(DOMAINS),
            train_splits=task_streams(DOMAINS),
            strategy=strategy,
            checkpoint_every=1000,
            summary_every=1000,
        )
        controller.train(4)
        iterations = controller.optimizers["weights"].iterations
        assert int(keras.ops.convert_to_numpy(iterations.value)) == 2
        return [np.array(v) for v in controller.model.weights]

    two = run("two", mirrored_strategy)
    one = run("one", None)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
