"""`python -m tfmtl.methods.taps.main --mode=report` on tiny exported runs.

Reference: `VisualizeLayers.ipynb` (github.com/MattWallingford/TAPS), per
experiment: `acc = 100 - np.min(val_err)`; "% Parameters Changed" =
`active / total`, where `total` sums every parameter but the deltas
(`'residual'`) and `active` the norm parameters (`'bn'`) plus the weight of
every layer whose `indicator >= threshold`; the heat map of
`scores > threshold`, a row per experiment, a column per layer. The
expected numbers are recomputed here in float64 from the saved variables'
paths.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.taps import TAPS
from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import ClassifierHead
from tfmtl.models.multitask_model import MultiTaskModel


def _run(model_dir, tasks, patterns):
    """Saves an exported TAPS model whose task t tunes `patterns[t]`."""
    model = MultiTaskModel(
        TAPS(ResNet(18, stem="small", widths=(4, 4, 8, 8)), tasks),
        {task: ClassifierHead(3 + i) for i, task in enumerate(tasks)},
    )
    model(np.zeros((1, 16, 16, 3), np.float32), training=False)
    for t, pattern in enumerate(patterns):
        for i, layer in enumerate(model.sharing.gated_layers()):
            layer.scores[t].assign(0.2 if pattern(i) else 0.05)
    os.makedirs(os.path.join(model_dir, "export"))
    model.save(os.path.join(model_dir, "export", "model.keras"))
    return model


def _write_eval(model_dir, task, errors):
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval"))
    with writer.as_default():
        for step, error in enumerate(errors, 1):
            tf.summary.scalar(f"metric/{task}/error", error, step=step)
    writer.close()


def _numpy_parameters_added(model, t, task):
    """The notebook's active / total, from variable paths, in float64."""
    heads = {id(v) for h in model.heads.values() for v in h.weights}
    values = {
        v.path: np.asarray(v, np.float64)
        for v in model.weights
        if id(v) not in heads
    }
    total = active = 0.0
    for path, value in values.items():
        if "delta_" in path or "moving_" in path:
            continue
        if "penalty_scale" in path:
            continue
        own = re.search(r"_task(\d+)/|score_(\d+)$", path)
        if own and int(next(g for g in own.groups() if g)) != t:
            continue  # another task's norm or score
        total += value.size
        if path.endswith(("/gamma", "/beta")):
            active += value.size
        if path.endswith("/kernel"):
            score = values[path[: -len("kernel")] + f"score_{t}"]
            active += value.size if score >= 0.1 else 0.0
    total += sum(np.asarray(v).size for v in model.heads[task].weights)
    return 100.0 * active / total


def test_report_mode_writes_the_heat_map_and_table(tmp_path, capsys):
    from absl import flags

    from tfmtl.methods.taps import main as taps_binary

    one, two = str(tmp_path / "flowers"), str(tmp_path / "joint")
    models = {
        "flowers": _run(one, ("flowers",), [lambda i: i % 3 == 0]),
        "joint": _run(
            two, ("cars", "birds"), [lambda i: i < 4, lambda i: i % 2 == 1]
        ),
    }
    _write_eval(one, "flowers", [0.6, 0.25, 0.4])
    _write_eval(two, "cars", [0.5, 0.125])
    with open(os.path.join(two, "eval_results.json"), "w") as f:
        json.dump({"results": {"metric/birds/error": 0.3}}, f)
    out = tmp_path / "report"
    flags.FLAGS(
        [
            "taps",
            "--mode=report",
            f"--model_dirs={one},{two}",
            f"--output_dir={out}",
        ]
    )
    try:
        taps_binary._main(["taps"])
    finally:
        flags.FLAGS.unparse_flags()
    assert "| flowers | flowers | 75.00 |" in capsys.readouterr().out

    rows = json.loads((out / "report.json").read_text())
    assert [(r["run"], r["task"]) for r in rows] == [
        ("flowers", "flowers"),
        ("joint", "cars"),
        ("joint", "birds"),
    ]
    np.testing.assert_allclose(
        [r["accuracy"] for r in rows], [75.0, 87.5, 70.0], atol=1e-4
    )
    patterns = [lambda i: i % 3 == 0, lambda i: i < 4, lambda i: i % 2 == 1]
    layers = 20  # ResNet-18: stem, 16 block convolutions, 3 projections
    expected = np.array([[p(i) for i in range(layers)] for p in patterns])
    for row, want in zip(rows, expected, strict=True):
        assert row["active_layers"] == want.tolist()
        np.testing.assert_allclose(row["layers_tuned"], 100 * want.mean())
    for row, (name, t) in zip(
        rows, [("flowers", 0), ("joint", 0), ("joint", 1)]
    ):
        want = _numpy_parameters_added(models[name], t, row["task"])
        np.testing.assert_allclose(row["parameters_added"], want, rtol=1e-9)
        assert 0 < row["parameters_added"] < 100
    # The heat map: a row per run and task, a dark cell per tuned layer.
    image = tf.io.decode_png(tf.io.read_file(str(out / "layers.png"))).numpy()
    assert image.shape == (3 * 8, layers * 8, 3)
    dark = image[::8, ::8].sum(-1) < 3 * 200
    np.testing.assert_array_equal(dark, expected)
    # The same image and the table as TensorBoard summaries.
    tags = set()
    for path in tf.io.gfile.glob(str(out / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"taps/report/layers", "taps/report/table"} <= tags


def test_report_of_other_architectures_or_no_export_is_refused(tmp_path):
    from tfmtl.methods.taps.report import write_report

    with pytest.raises(FileNotFoundError, match="--mode=export"):
        write_report([str(tmp_path / "missing")], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="--model_dirs"):
        write_report([], str(tmp_path / "out"))
    keras.backend.clear_session()
