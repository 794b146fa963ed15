"""TAG's fast mode: the lookahead on the trunk's last stage only (#18 item 3).

The definition it must meet exactly: Fifty et al. 2021's lookahead
(google-research `tag/celeba/CelebA.ipynb`, `train_step`: shared
parameters stepped by `lr * grad`, every loss recomputed with the heads
unchanged), with only the last stage's parameters stepped.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import make_dataset
from tfmtl.methods.tag import select_groups
from tfmtl.methods.tag.affinity_recorder import AffinityRecorder
from tfmtl.methods.tag.last_stage_affinity_recorder import (
    LastStageAffinityRecorder,
)
from tfmtl.testing import tiny_problem
from tfmtl.trainers import build_controller

TASKS = ("attr_a0", "attr_b0", "depth")


def _controller(model_dir, recorder, **problem):
    problem = tiny_problem(**{"tasks": TASKS, **problem})
    return build_controller(
        model_dir=str(model_dir),
        actions=[recorder],
        summary_every=100,
        checkpoint_every=1000,
        **problem,
    )


@pytest.mark.large
def test_last_stage_lookahead_matches_brute_force(tmp_path):
    """Brute force: per-task gradients of the last stage's variables from a
    fresh tape, those variables assigned theta - lr g (float64 step), the
    whole model run forward; gains in float64. The prefix must not move."""
    recorder = LastStageAffinityRecorder(
        every_n_steps=2, sources="tasks_and_all"
    )
    controller = _controller(tmp_path, recorder)
    controller.train(1)
    model = controller.model
    saved = [np.array(v) for v in model.weights]
    controller.train(2)
    results = recorder.last_results
    for v, value in zip(model.weights, saved):
        v.assign(value)
    batch = list(
        make_dataset(
            controller.streams.data, "train", TASKS, 8, shuffle=True, seed=0
        ).take(2)
    )[1]
    _, suffix = recorder.split(model)
    moved = [v for layer in suffix for v in layer.trainable_variables]
    shared = model.sharing.shared_variables()
    assert 0 < len(moved) < len(shared)
    lr = float(np.asarray(controller.optimizers["weights"].learning_rate))
    tasks = controller.trainer.tasks

    def losses(tape=None):
        out = model(batch["image"], training=True)
        return [
            tf.reduce_mean(tasks[t].loss(batch["labels"][t], out[t]))
            for t in TASKS
        ]

    with tf.GradientTape(persistent=True) as tape:
        before = losses()
    grads = [
        [np.asarray(g, np.float64) for g in tape.gradient(loss, moved)]
        for loss in before
    ]
    before = np.array([float(b) for b in before])
    after = []
    for members in recorder.source_sets:
        for v, value in zip(model.weights, saved):
            v.assign(value)
        for n, v in enumerate(moved):
            step = -lr * sum(grads[i][n] for i in members)
            v.assign((np.asarray(v, np.float64) + step).astype(np.float32))
        after.append([float(x) for x in losses()])
    after = np.array(after)
    np.testing.assert_allclose(results["before"], before, rtol=1e-4)
    np.testing.assert_allclose(results["after"], after, rtol=2e-4, atol=1e-6)
    gains = (1.0 - after / before[None]) / lr
    np.testing.assert_allclose(
        recorder.matrix(), gains[:3].T, rtol=2e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        recorder.source_matrix(), gains[3:].T, rtol=2e-3, atol=1e-5
    )


def _kendall_tau(a, b):
    """Kendall's tau-a of two flat arrays (no scipy at test time)."""
    n, score = len(a), 0.0
    for i in range(n):
        for j in range(i + 1, n):
            score += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return score / (n * (n - 1) / 2)


@pytest.mark.large
def test_fast_mode_finds_the_planted_groups_as_exact(tmp_path):
    """On the planted scenes (a0..a2 threshold one latent factor, b0..b2
    another) the fast mode selects the same two groups as the exact one,
    and ranks the off-diagonal affinities alike (Kendall tau >= 0.6)."""
    tasks = ("attr_a0", "attr_a1", "attr_a2", "attr_b0", "attr_b1", "attr_b2")
    matrices = {}
    for name, cls in (
        ("exact", AffinityRecorder),
        ("fast", LastStageAffinityRecorder),
    ):
        recorder = cls(every_n_steps=5, write_every=1000)
        problem = tiny_problem(
            tasks=tasks,
            image_size=24,
            widths=(16, 32, 32, 32),
            global_batch_size=32,
            num_train=4096,
            learning_rate=0.1,
        )
        controller = build_controller(
            model_dir=str(tmp_path / name),
            actions=[recorder],
            summary_every=100,
            checkpoint_every=1000,
            **problem,
        )
        controller.train(300)
        matrices[name] = recorder.matrix()
        selection = select_groups(matrices[name], 2, tasks=list(tasks))
        assert sorted(selection.groups) == [tasks[:3], tasks[3:]], (
            name,
            matrices[name],
        )
    off = ~np.eye(len(tasks), dtype=bool)
    tau = _kendall_tau(matrices["exact"][off], matrices["fast"][off])
    assert tau >= 0.6, (tau, matrices)


def test_needs_a_backbone_of_blocks_and_kind_tag():
    import types

    with pytest.raises(ValueError, match="kind='tag'"):
        LastStageAffinityRecorder(kind="cs")
    with pytest.raises(ValueError, match="last_blocks"):
        LastStageAffinityRecorder(last_blocks=0)
    model = types.SimpleNamespace(sharing=types.SimpleNamespace())
    with pytest.raises(ValueError, match="stem and blocks"):
        LastStageAffinityRecorder().split(model)
    backbone = types.SimpleNamespace(
        stem="stem", blocks=["b1", "b2", "b3", "b4"], stage_ends=[1, 3]
    )
    model = types.SimpleNamespace(
        sharing=types.SimpleNamespace(backbone=backbone)
    )
    assert LastStageAffinityRecorder().split(model) == (
        ["stem", "b1", "b2"],
        ["b3", "b4"],
    )
    assert LastStageAffinityRecorder(last_blocks=1).split(model)[1] == ["b4"]


def test_fast_synthetic_config_swaps_the_recorder():
    import os

    import gin

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
    gin.clear_config()
    gin.add_config_file_search_path(root)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(root, "gin_configs/tag/synthetic_tag_fast.gin")],
            ["MODEL_DIR = '/unused'"],
        )
        (action,) = gin.query_parameter("%ACTIONS")
        recorder = action.scoped_configurable_fn()
    finally:
        gin.clear_config()
    assert isinstance(recorder, LastStageAffinityRecorder)
    assert recorder.probe_every_n_steps == 5 and recorder.lookahead == "sgd"
