"""TAG's lookahead affinity inside the training loop."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import make_dataset
from tfmtl.methods.tag import select_groups
from tfmtl.methods.tag.affinity_file import load_affinity
from tfmtl.methods.tag.affinity_recorder import AffinityRecorder
from tfmtl.testing import tiny_problem
from tfmtl.trainers import build_controller

TASKS = ("attr_a0", "attr_b0", "depth")


def _controller(model_dir, recorder=None, **problem):
    problem = tiny_problem(**{"tasks": TASKS, **problem})
    return build_controller(
        model_dir=str(model_dir),
        actions=[recorder] if recorder else [],
        summary_every=1,
        checkpoint_every=100,
        **problem,
    )


def _snapshot(variables):
    return [np.array(v) for v in variables]


def _restore(variables, values):
    for v, value in zip(variables, values):
        v.assign(value)


def _manual_lookahead(controller, batch, momentum_values=None):
    """Brute force: assign looked-ahead weights, forward, restore."""
    model = controller.model
    shared = model.sharing.shared_variables()
    saved = _snapshot(model.weights)
    optimizer = controller.optimizers["weights"]
    lr = float(np.asarray(optimizer.learning_rate))

    def losses():
        out = model(batch["image"], training=True)
        return np.array(
            [
                float(
                    tf.reduce_mean(
                        controller.trainer.tasks[t].loss(
                            batch["labels"][t], out[t]
                        )
                    )
                )
                for t in TASKS
            ]
        )

    before = losses()
    _restore(model.weights, saved)
    after = []
    for task in TASKS:
        with tf.GradientTape() as tape:
            out = model(batch["image"], training=True)
            loss = tf.reduce_mean(
                controller.trainer.tasks[task].loss(
                    batch["labels"][task], out[task]
                )
            )
        grads = tape.gradient(loss, shared)
        _restore(model.weights, saved)
        for k, (v, g) in enumerate(zip(shared, grads)):
            step = -lr * np.asarray(g)
            if momentum_values is not None:
                step += 0.9 * momentum_values[k]
            v.assign(np.asarray(v) + step)
        after.append(losses())
        _restore(model.weights, saved)
    return before, np.stack(after), lr


@pytest.mark.large
@pytest.mark.parametrize("lookahead", ["sgd", "optimizer"])
def test_lookahead_matches_brute_force(tmp_path, lookahead):
    recorder = AffinityRecorder(every_n_steps=2, lookahead=lookahead)
    controller = _controller(tmp_path, recorder)
    controller.train(1)
    model = controller.model
    weights = _snapshot(model.weights)
    optimizer = controller.optimizers["weights"]
    shared = model.sharing.shared_variables()
    momentum = [
        np.array(optimizer.momentums[optimizer._get_variable_index(v)])
        for v in shared
    ]
    assert any(np.abs(m).max() > 0 for m in momentum)
    controller.train(2)  # the probe runs on step 2, before its update
    results = recorder.last_results
    _restore(model.weights, weights)
    dataset = make_dataset(
        controller.streams.data, "train", TASKS, 8, shuffle=True, seed=0
    )
    batch = list(dataset.take(2))[1]
    before, after, lr = _manual_lookahead(
        controller, batch, momentum if lookahead == "optimizer" else None
    )
    np.testing.assert_allclose(results["before"], before, rtol=1e-4)
    np.testing.assert_allclose(results["after"], after, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(float(results["lr"]), lr, rtol=1e-6)
    # Z[source -> target] = (1 - after / before) / lr, stored transposed.
    z = (1 - after / before[None, :]) / lr
    np.testing.assert_allclose(recorder.matrix(), z.T, rtol=2e-3, atol=1e-5)


@pytest.mark.large
def test_lookahead_leaves_training_untouched(tmp_path):
    plain = _controller(tmp_path / "plain")
    plain.train(3)
    probed = _controller(tmp_path / "probed", AffinityRecorder(every_n_steps=1))
    probed.train(3)
    for a, b in zip(plain.model.weights, probed.model.weights):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)


def test_outputs_file_image_and_summaries(tmp_path):
    recorder = AffinityRecorder(every_n_steps=1, write_every=2)
    controller = _controller(tmp_path, recorder)
    controller.train(3)
    tasks, matrix, meta = load_affinity(os.path.join(tmp_path, "affinity.json"))
    assert tuple(tasks) == TASKS and meta["kind"] == "tag"
    assert meta["steps"] == 3
    np.testing.assert_allclose(matrix, recorder.matrix())
    assert os.path.exists(os.path.join(tmp_path, "affinity.png"))
    with open(os.path.join(tmp_path, "affinity.json")) as f:
        assert "A[target][source]" in json.load(f)["orientation"]
    # Resuming continues the running average from the checkpoint.
    again = AffinityRecorder(every_n_steps=1, write_every=2)
    resumed = _controller(tmp_path, again)
    resumed.restore()
    assert int(again.count.numpy()) == 3
    np.testing.assert_allclose(again.matrix(), recorder.matrix())


def test_cosine_similarity_kind(tmp_path):
    recorder = AffinityRecorder(every_n_steps=1, kind="cs")
    controller = _controller(tmp_path, recorder)
    controller.train(2)
    matrix = recorder.matrix()
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-5)
    assert np.all(np.abs(matrix) <= 1 + 1e-6)


@pytest.mark.large
def test_affinity_recovers_the_planted_groups(tmp_path):
    # Attributes a0..a2 threshold one latent factor, b0..b2 another
    # (SyntheticScenes docstring). TAG's lookahead affinity, then network
    # selection with a budget of two groups, must find exactly these groups.
    tasks = ("attr_a0", "attr_a1", "attr_a2", "attr_b0", "attr_b1", "attr_b2")
    recorder = AffinityRecorder(every_n_steps=5, write_every=1000)
    problem = tiny_problem(
        tasks=tasks,
        image_size=24,
        widths=(16, 32, 32, 32),
        global_batch_size=32,
        num_train=4096,
        learning_rate=0.1,
    )
    controller = build_controller(
        model_dir=str(tmp_path),
        actions=[recorder],
        summary_every=100,
        checkpoint_every=1000,
        **problem,
    )
    controller.train(300)
    selection = select_groups(recorder.matrix(), 2, tasks=list(tasks))
    assert sorted(selection.groups) == [tasks[:3], tasks[3:]], recorder.matrix()


def test_disabled_recorder_measures_nothing():
    """Issue #15 item 17: group/pair runs are plain MTL (google-research
    `tag/celeba/CelebA.ipynb`, `train_fast_step`: no lookahead), so a
    disabled recorder is never a due probe and writes no file."""
    import types

    from tfmtl.trainers.probes import due_probes

    context = types.SimpleNamespace(task_names=("a", "b"))
    plan = types.SimpleNamespace(tasks=("a", "b"))
    on = AffinityRecorder(every_n_steps=1)
    off = AffinityRecorder(every_n_steps=1, enabled=False)
    on.bind(context)
    off.bind(context)
    assert due_probes([on, off], 1, plan, context) == (on,)
    off.count.assign(1)
    off(1, {}, context)  # would need a writer if it wrote anything
