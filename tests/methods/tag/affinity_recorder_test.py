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


@pytest.mark.large
def test_combined_sources_match_brute_force(tmp_path):
    """Issue #15 item 20: google-research `tag/celeba/CelebA.ipynb`,
    `train_step` looks ahead on `tape.gradient(task_permutations[combined],
    shared)` for every combined task of `permute(losses)`; the gradient of a
    summed loss is the sum of the tasks' gradients. Brute force: each
    task's gradient from a fresh tape, the float64 sum over the source's
    tasks, the weights assigned, the losses recomputed; gains in float64."""
    recorder = AffinityRecorder(every_n_steps=2, sources="subsets")
    controller = _controller(tmp_path, recorder)
    controller.train(1)
    model = controller.model
    weights = _snapshot(model.weights)
    controller.train(2)
    results = recorder.last_results
    _restore(model.weights, weights)
    dataset = make_dataset(
        controller.streams.data, "train", TASKS, 8, shuffle=True, seed=0
    )
    batch = list(dataset.take(2))[1]
    shared = model.sharing.shared_variables()
    lr = float(np.asarray(controller.optimizers["weights"].learning_rate))

    def losses():
        out = model(batch["image"], training=True)
        tasks = controller.trainer.tasks
        return np.array(
            [
                float(tf.reduce_mean(tasks[t].loss(batch["labels"][t], out[t])))
                for t in TASKS
            ],
            np.float64,
        )

    saved = _snapshot(model.weights)
    before = losses()
    grads = []
    for task in TASKS:
        _restore(model.weights, saved)
        with tf.GradientTape() as tape:
            out = model(batch["image"], training=True)
            loss = tf.reduce_mean(
                controller.trainer.tasks[task].loss(
                    batch["labels"][task], out[task]
                )
            )
        grads.append(
            [np.asarray(g, np.float64) for g in tape.gradient(loss, shared)]
        )
    after = []
    for members in recorder.source_sets:
        _restore(model.weights, saved)
        for n, v in enumerate(shared):
            step = -lr * sum(grads[i][n] for i in members)
            v.assign((np.asarray(v, np.float64) + step).astype(np.float32))
        after.append(losses())
    _restore(model.weights, saved)
    after = np.stack(after)
    assert after.shape == (7, 3)
    np.testing.assert_allclose(results["after"], after, rtol=2e-4, atol=1e-6)
    gains = (1.0 - after / before[None]) / lr  # [source, target]
    np.testing.assert_allclose(
        recorder.matrix(), gains[:3].T, rtol=2e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        recorder.source_matrix(), gains[3:].T, rtol=2e-3, atol=1e-5
    )
    # The all-tasks source is not the sum of the single-task gains.
    assert not np.allclose(gains[6], gains[:3].sum(0), rtol=1e-2)


@pytest.mark.large
def test_epoch_history_in_file_tensorboard_and_checkpoint(tmp_path):
    """Per-epoch affinity (the colab's `gradient_metrics`, one mean per
    epoch): with 2 steps per epoch and 5 steps, epochs 0, 1 and the partial
    2 reach the file and TensorBoard; a resumed run keeps the history."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    seen = []

    class Capturing(AffinityRecorder):
        def record(self, step, results, context):
            seen.append((step, dict(results)))
            super().record(step, results, context)

    recorder = Capturing(every_n_steps=1, write_every=2, steps_per_epoch=2)
    controller = _controller(tmp_path, recorder)
    controller.train(5)
    gains = np.stack(
        [
            (1.0 - r["after"] / np.maximum(r["before"], 1e-12)[None])
            / np.float64(r["lr"])
            for _, r in seen
        ]
    )  # [step, source, target]
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5]
    _, _, meta = load_affinity(os.path.join(tmp_path, "affinity.json"))
    history = meta["history"]
    assert history["epochs"] == [0, 1, 2]
    assert history["measurements"] == [2, 2, 1]
    for e, (lo, hi) in enumerate([(0, 2), (2, 4), (4, 5)]):
        np.testing.assert_allclose(
            history["matrices"][e], gains[lo:hi].mean(0).T, rtol=1e-6
        )
    acc = ea.EventAccumulator(
        os.path.join(tmp_path, "train"), size_guidance={ea.TENSORS: 0}
    )
    acc.Reload()
    events = acc.Tensors(f"affinity_epoch/{TASKS[1]}/{TASKS[0]}")
    assert [e.step for e in events] == [2, 4, 5]
    want = gains[:, 0, 1]  # source TASKS[0], target TASKS[1]
    got = [float(tf.make_ndarray(e.tensor_proto)) for e in events]
    np.testing.assert_allclose(
        got, [want[:2].mean(), want[2:4].mean(), want[4]], rtol=1e-5
    )
    again = AffinityRecorder(every_n_steps=1, steps_per_epoch=2)
    resumed = _controller(tmp_path, again)
    resumed.restore()
    assert [(e, n) for e, n, _ in again.history.epochs()] == [
        (0, 2),
        (1, 2),
        (2, 1),
    ]
    assert int(again.history.written.numpy()) == 2
