"""Combined lookahead sources and per-epoch affinity history (#15 item 20).

Reference: google-research `tag/celeba/CelebA.ipynb`. `permute(losses)` /
`permute_list` give the combined tasks (every subset, or with
`FLAGS.order == 1` the single tasks plus all tasks), `train_step` computes
`task_gain = (1 - L_after / L_before) / lr` for every (combined task,
task), and `train` stores per epoch the mean gain over the epoch's batches
in `gradient_metrics[combined_task]` (one dict per epoch).
"""

import itertools
import types

import numpy as np
import pytest

from tfmtl.methods.tag.affinity_file import load_affinity, save_affinity
from tfmtl.methods.tag.affinity_history import AffinityHistory
from tfmtl.methods.tag.affinity_recorder import AffinityRecorder
from tfmtl.methods.tag.affinity_sources import source_sets

TASKS = ("a", "b", "c")


def colab_permute_list(tasks, order):
    """The colab's `permute_list`, transcribed (names joined by '_')."""
    tasks = sorted(tasks)
    out = []
    for task in tasks:
        new = [task]
        for saved in out:
            if order == 1:
                continue
            new.append(f"{saved}_{task}")
        out += new
    if order == 1:
        out.append("_".join(tasks))
    return out


@pytest.mark.parametrize(
    "sources,order", [("subsets", -1), ("tasks_and_all", 1)]
)
def test_sources_are_the_colab_combined_tasks(sources, order):
    tasks = ["p", "q", "r", "s"]
    got = ["_".join(tasks[i] for i in m) for m in source_sets(4, sources)]
    want = colab_permute_list(tasks, order)
    assert sorted(got) == sorted(want) and len(got) == len(want)
    # Single tasks first, then the combined ones in the colab's order.
    assert got[:4] == tasks
    assert got[4:] == [w for w in want if "_" in w]
    assert source_sets(4, "tasks") == [(0,), (1,), (2,), (3,)]
    with pytest.raises(ValueError, match="sources must be one of"):
        source_sets(4, "pairs")
    with pytest.raises(ValueError, match="refused"):
        source_sets(11, "subsets")


class FakeWriter:
    def __init__(self):
        self.scalar_calls, self.image_calls = [], []

    def scalars(self, name, values, step):
        self.scalar_calls.append((step, dict(values)))

    def images(self, name, panels, step):
        self.image_calls.append((step, sorted(panels)))


def test_record_sources_and_epoch_history_match_numpy(tmp_path):
    """Measurements at steps 1..7 with 3 steps per epoch: the pairwise
    and combined-source averages, and each epoch's mean gain, against a
    float64 recomputation of the colab's `task_gain` and epoch means."""
    spe, steps, k = 3, 7, 3
    recorder = AffinityRecorder(
        every_n_steps=1, sources="subsets", steps_per_epoch=spe
    )
    recorder.bind(types.SimpleNamespace(task_names=TASKS))
    sets = recorder.source_sets
    assert len(sets) == 7
    rng = np.random.default_rng(0)
    gains = []  # [step][source][target], float64
    for step in range(1, steps + 1):
        before = rng.uniform(0.5, 2.0, size=k)
        after = before[None] * rng.uniform(0.8, 1.2, size=(len(sets), k))
        lr = 0.05 if step < 5 else 0.025
        results = {"before": before, "after": after, "lr": np.float32(lr)}
        recorder.record(step, results, None)
        gains.append((1.0 - after / before[None]) / np.float64(np.float32(lr)))
    gains = np.stack(gains)
    mean = gains.mean(axis=0)  # [source, target]
    np.testing.assert_allclose(recorder.matrix(), mean[:k].T, rtol=1e-12)
    np.testing.assert_allclose(recorder.source_matrix(), mean[k:].T, rtol=1e-12)
    epochs = recorder.history.epochs()
    assert [(e, n) for e, n, _ in epochs] == [(0, 3), (1, 3), (2, 1)]
    for e, _, got in epochs:
        want = gains[e * spe : (e + 1) * spe].mean(axis=0).T
        np.testing.assert_allclose(got, want, rtol=1e-12)

    # The file and TensorBoard at step 7: epochs 0 and 1 are complete.
    writer = FakeWriter()
    context = types.SimpleNamespace(
        writer=writer, is_chief=True, model_dir=str(tmp_path), step=steps
    )
    recorder(steps, {}, context)
    tasks, matrix, meta = load_affinity(tmp_path / "affinity.json")
    np.testing.assert_allclose(matrix, mean[:k].T, rtol=1e-12)
    assert meta["sources"] == [tuple(TASKS[i] for i in m) for m in sets[k:]]
    np.testing.assert_allclose(meta["source_matrix"], mean[k:].T, rtol=1e-12)
    history = meta["history"]
    assert history["epochs"] == [0, 1, 2] and history["steps_per_epoch"] == 3
    for e in range(3):
        want = gains[e * spe : (e + 1) * spe].mean(axis=0).T
        np.testing.assert_allclose(history["matrices"][e], want[:, :k])
        np.testing.assert_allclose(history["source_matrices"][e], want[:, k:])
    epoch_steps = [
        s for s, v in writer.scalar_calls if "affinity_epoch/a/a+b" in v
    ]
    assert epoch_steps == [3, 6]
    (_, first), (_, second) = [
        c for c in writer.scalar_calls if "affinity_epoch/a/a" in c[1]
    ]
    want = gains[:3].mean(axis=0)  # [source, target]
    assert first["affinity_epoch/b/a+c"] == pytest.approx(want[4, 1])
    # Writing again does not repeat a written epoch; the end of training
    # adds the partial epoch 2 at its last step.
    recorder(steps, {}, context)
    recorder.finalize(context)
    epoch_steps = [
        s for s, v in writer.scalar_calls if "affinity_epoch/a/a+b" in v
    ]
    assert epoch_steps == [3, 6, 7]
    assert "affinity/c/a+b+c" in writer.scalar_calls[-1][1]


def test_history_variables_grow_and_validate():
    history = AffinityHistory(2, 3, steps_per_epoch=4)
    history.add(9, np.ones((2, 3)))  # epoch 2 before 0 and 1
    assert [e for e, _, _ in history.epochs()] == [2]
    assert history.total.numpy().shape == (3, 2, 3)
    with pytest.raises(ValueError, match="expected a"):
        history.add(1, np.ones((3, 2)))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        AffinityHistory(2, 2, steps_per_epoch=0)


def test_file_rejects_malformed_sources_and_history(tmp_path):
    path = tmp_path / "a.json"
    eye = np.eye(3)
    with pytest.raises(ValueError, match="2\\+ tasks"):
        save_affinity(
            path, TASKS, eye, sources=[["a"]], source_matrix=[[1]] * 3
        )
    with pytest.raises(ValueError, match="unknown tasks"):
        save_affinity(
            path, TASKS, eye, sources=[["a", "z"]], source_matrix=[[1]] * 3
        )
    with pytest.raises(ValueError, match="source_matrix must be 3x1"):
        save_affinity(path, TASKS, eye, sources=[["a", "b"]], source_matrix=eye)
    bad = {
        "steps_per_epoch": 2,
        "epochs": [1, 0],
        "measurements": [1, 1],
        "matrices": [eye, eye],
    }
    with pytest.raises(ValueError, match="increase"):
        save_affinity(path, TASKS, eye, history=bad)
    good = dict(bad, epochs=[0, 1])
    save_affinity(path, TASKS, eye, history=good)
    _, _, meta = load_affinity(path)
    assert meta["sources"] == [] and meta["source_matrix"] is None
    np.testing.assert_array_equal(meta["history"]["matrices"], [eye, eye])


def test_all_subsets_cover_every_combination():
    sets = source_sets(5, "subsets")
    want = {c for r in range(1, 6) for c in itertools.combinations(range(5), r)}
    assert set(sets) == want and len(sets) == 31
