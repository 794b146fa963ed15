"""The TAG workflow binaries: per-group training, report, HOA matrix."""

import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.methods.tag.fake_runs import fake_best, fake_run
from tfmtl import experiment
from tfmtl.methods.tag import groups
from tfmtl.methods.tag.affinity_file import load_affinity

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def test_report_reads_each_task_from_its_serving_group(tmp_path):
    fake_run(tmp_path, ("a", "b"), {"loss/a": 1.0, "loss/b": 2.0})
    fake_run(tmp_path, ("b", "c"), {"loss/b": 0.5, "loss/c": 3.0})
    serving = {"a": ("a", "b"), "b": ("b", "c"), "c": ("b", "c")}
    per_task, total = groups.report(
        str(tmp_path), [("a", "b"), ("b", "c")], serving, split="validation"
    )
    assert per_task == {"a": 1.0, "b": 0.5, "c": 3.0} and total == 4.5
    with pytest.raises(FileNotFoundError, match="run --mode=train"):
        groups.report(str(tmp_path), [("a",)], {"a": ("a",)})
    # Without RestoreBest there are no test numbers to report.
    with pytest.raises(FileNotFoundError, match="RestoreBest"):
        groups.report(str(tmp_path), [("a", "b")], {"a": ("a", "b")})


def test_report_prints_test_numbers_of_the_best_step(tmp_path):
    """Issue #15 item 18: the colab (google-research
    `tag/celeba/CelebA.ipynb`) restores the best validation epoch and
    reports the test split; the report must not read the final weights'
    validation results."""
    fake_best(
        tmp_path,
        ("a", "b"),
        final={"loss/a": 9.0, "loss/b": 9.0, "loss/total": 18.0},
        best={"loss/a": 1.0, "loss/b": 2.0, "loss/total": 3.0},
        test={"loss/a": 1.5, "loss/b": 2.5, "loss/total": 4.0},
    )
    serving = {"a": ("a", "b"), "b": ("a", "b")}
    per_task, total = groups.report(str(tmp_path), [("a", "b")], serving)
    assert per_task == {"a": 1.5, "b": 2.5} and total == 4.0
    per_task, _ = groups.report(
        str(tmp_path), [("a", "b")], serving, split="validation"
    )
    assert per_task == {"a": 1.0, "b": 2.0}
    group_file = tmp_path / "groups.json"
    group_file.write_text(
        json.dumps({"groups": [["a", "b"]], "serving": serving})
    )
    shown = _python(
        "tfmtl.methods.tag.groups",
        "--mode=report",
        f"--groups={group_file}",
        f"--base_dir={tmp_path}",
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    lines = [line.split() for line in shown.stdout.strip().splitlines()]
    assert lines == [
        ["a", "1.5", "test", "of", "a+b"],
        ["b", "2.5", "test", "of", "a+b"],
        ["total", "4"],
    ]


def test_hoa_matrix_reads_validation_at_the_best_step(tmp_path):
    for run in groups.pair_runs(["a", "b"]):
        fake_best(
            tmp_path,
            run,
            final={f"loss/{t}": 9.0 for t in run},
            best={f"loss/{t}": float(len(run)) for t in run},
            test={f"loss/{t}": 7.0 for t in run},
        )
    matrix = groups.hoa_matrix(str(tmp_path), ["a", "b"])
    assert matrix == [[1.0, 2.0], [2.0, 1.0]]


def test_hoa_matrix_orientation(tmp_path):
    tasks = ["a", "b", "c"]
    for run in groups.pair_runs(tasks):
        # Each task's loss is 10 * (its index + 1) + number of partners.
        fake_run(
            tmp_path,
            run,
            {
                f"loss/{t}": 10.0 * (tasks.index(t) + 1) + len(run) - 1
                for t in run
            },
        )
    matrix = np.array(groups.hoa_matrix(str(tmp_path), tasks))
    np.testing.assert_array_equal(np.diag(matrix), [10, 20, 30])
    assert matrix[0, 1] == 11 and matrix[2, 0] == 31  # A[target][source]
    assert len(groups.pair_runs(tasks)) == 6


def _python(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.large
def test_tag_workflow_end_to_end(tmp_path):
    tiny = [
        "--gin.TRAIN_STEPS=3",
        "--gin.AFFINITY_EVERY=1",
        "--gin.EVAL_EVERY=None",
        "--gin.EVAL_STEPS=1",
        "--gin.IMAGE_SIZE=16",
        "--gin.NUM_TRAIN=64",
        "--gin.NUM_VALIDATION=16",
        "--gin.GLOBAL_BATCH_SIZE=8",
        "--gin.WIDTHS=(8, 8, 8, 8)",
    ]
    config = "gin_configs/tag/synthetic_tag.gin"
    first = _python(
        "tfmtl.train",
        f"--gin_file={config}",
        "--mode=train_and_evaluate",
        f"--gin.MODEL_DIR='{tmp_path / 'all'}'",
        *tiny,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    affinity = tmp_path / "all" / "affinity.json"
    tasks, matrix, meta = load_affinity(str(affinity))
    assert meta["steps"] == 3 and matrix.shape == (6, 6)
    chosen = _python(
        "tfmtl.methods.tag.select_main",
        f"--affinity={affinity}",
        "--budget=2",
    )
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    group_file = tmp_path / "all" / "groups.json"
    bindings = [
        "--gin_bindings=" + arg[len("--gin.") :].replace("=", " = ", 1)
        for arg in tiny
    ]
    trained = _python(
        "tfmtl.methods.tag.groups",
        "--mode=train",
        f"--groups={group_file}",
        f"--base_dir={tmp_path / 'groups'}",
        f"--gin_file={config}",
        *bindings,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    report = _python(
        "tfmtl.methods.tag.groups",
        "--mode=report",
        f"--groups={group_file}",
        f"--base_dir={tmp_path / 'groups'}",
        "--report_split=validation",  # synthetic_tag.gin has no RestoreBest
    )
    assert report.returncode == 0, report.stderr[-3000:]
    lines = report.stdout.strip().splitlines()
    assert len(lines) == 7 and lines[-1].startswith("total")
    served = {line.split()[0] for line in lines[:-1]}
    assert served == set(tasks)


def test_binary_action_is_a_deprecated_alias_of_mode(tmp_path):
    fake_run(tmp_path, ("a", "b"), {"loss/a": 1.0, "loss/b": 2.0})
    group_file = tmp_path / "groups.json"
    group_file.write_text(
        json.dumps({"groups": [["a", "b"]], "serving": {"a": ["a", "b"]}})
    )
    args = [
        f"--groups={group_file}",
        f"--base_dir={tmp_path}",
        "--report_split=validation",
    ]
    new = _python("tfmtl.methods.tag.groups", "--mode=report", *args)
    assert new.returncode == 0, new.stderr[-3000:]
    assert "deprecated" not in new.stderr
    old = _python("tfmtl.methods.tag.groups", "--action", "report", *args)
    assert old.returncode == 0, old.stderr[-3000:]
    assert old.stdout == new.stdout and old.stdout.startswith("a ")
    assert old.stderr.splitlines() == [
        "tfmtl.methods.tag.groups: warning: --action is deprecated, use --mode"
    ]
    bad = _python("tfmtl.methods.tag.groups", "--action=report", args[1])
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == (
        "tfmtl.methods.tag.groups: error: ValueError: "
        "--mode=report needs --groups."
    )


def test_celeba_tag_config_runs_on_mock_data(tmp_path):
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    gin.parse_config_files_and_bindings(
        [os.path.join(ROOT, "gin_configs/tag/celeba_tag.gin")],
        [
            f"MODEL_DIR = '{tmp_path}'",
            "TRAIN_STEPS = 2",
            "GLOBAL_BATCH_SIZE = 4",
            "STEPS_PER_EPOCH = 1",
            "EVAL_STEPS = 1",
            "CELEBA_DATA_DIR = '/unused'",
        ],
    )
    try:
        run = gin.get_configurable(experiment.run)
        with tfds.testing.mock_data(num_examples=8):
            results = run(mode="train_and_evaluate")
    finally:
        gin.clear_config()
    assert "metric/Goatee/error" in results
    tasks, matrix, meta = load_affinity(os.path.join(tmp_path, "affinity.json"))
    assert len(tasks) == 9 and meta["steps"] == 2
    assert np.all(np.isfinite(matrix))
    # The colab's order=1 source (all tasks) and one history entry per epoch.
    assert meta["sources"] == [tuple(tasks)]
    assert meta["source_matrix"].shape == (9, 1)
    assert meta["history"]["epochs"] == [0, 1]
    # The best epoch's weights are scored on the test split (item 18).
    with open(os.path.join(tmp_path, "best_results.json")) as f:
        best = json.load(f)
    assert best["split"] == "test" and best["step"] in (1, 2)
    assert "metric/Goatee/error" in best["test"]
