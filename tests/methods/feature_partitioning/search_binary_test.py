"""The outer search loop: workers, retries, resumable log, the binary."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.feature_partitioning.partition_candidate import (
    PartitionCandidate,
)
from tfmtl.methods.feature_partitioning.partition_debug_reward import (
    DebugReward,
)
from tfmtl.methods.feature_partitioning.partition_es import PartitionES
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)
from tfmtl.search import SubprocessEvaluator
from tfmtl.search.runner import LOG_NAME, SearchRunner

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def _es(**kwargs):
    kwargs.setdefault("num_samples", 8 + 8 * 4)
    return PartitionES(
        2, init_random=8, num_deltas=4, num_to_use=3, seed=1, **kwargs
    )


def _log(search_dir):
    with open(os.path.join(search_dir, LOG_NAME)) as f:
        return [json.loads(line) for line in f]


class _Counting:
    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, sample_id, params, attempt, worker):
        self.calls.append(sample_id)
        return self.inner(sample_id, params, attempt, worker)


def test_runner_logs_summaries_and_plot(tmp_path):
    evaluate = _Counting(DebugReward(2, seed=0))
    summary = SearchRunner(_es(), evaluate, tmp_path, num_workers=3).run()
    records = _log(tmp_path)
    assert [r["id"] for r in sorted(records, key=lambda r: r["id"])] == list(
        range(40)
    )
    assert sorted(evaluate.calls) == list(range(40))
    assert summary["num_evaluations"] == 40 and not summary["failed"]
    assert summary["best_score"] == max(r["score"] for r in records)
    assert len(summary["best_partition"]["forward"]) == 2
    assert os.path.exists(tmp_path / "best.json")
    assert "polyline" in (tmp_path / "best_score.svg").read_text()
    assert any(name.startswith("events.out") for name in os.listdir(tmp_path))
    # TensorBoard shows best score vs evaluations and the ES feature use.
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    events.Reload()
    best = [
        (e.step, float(tf.make_ndarray(e.tensor_proto)))
        for e in events.Tensors("search/best_score")
    ]
    assert [step for step, _ in best] == list(range(1, 41))
    values = [v for _, v in best]
    assert values == sorted(values)
    assert values[-1] == pytest.approx(summary["best_score"])
    use = events.Tensors("search/param_use/task_1")
    assert len(use) == 5  # one per generation


def test_resume_from_interrupted_log_matches_uninterrupted(tmp_path):
    full = SearchRunner(_es(), DebugReward(2), tmp_path / "a", 2).run()
    # Interrupt: keep the first 13 lines and a torn 14th.
    lines = (tmp_path / "a" / LOG_NAME).read_text().splitlines()
    os.makedirs(tmp_path / "b")
    (tmp_path / "b" / LOG_NAME).write_text(
        "\n".join(lines[:13]) + "\n" + lines[13][:10]
    )
    evaluate = _Counting(DebugReward(2))
    resumed = SearchRunner(_es(), evaluate, tmp_path / "b", 2).run()
    done = {json.loads(line)["id"] for line in lines[:13]}
    assert not done & set(evaluate.calls)
    assert len(evaluate.calls) == 40 - 13
    assert resumed["best_score"] == full["best_score"]
    np.testing.assert_allclose(resumed["best_params"], full["best_params"])
    # A different search in the same directory is refused.
    with pytest.raises(ValueError, match="does not match"):
        SearchRunner(
            PartitionRandomSearch(2, 8, seed=9), DebugReward(2), tmp_path / "b"
        ).run()


def test_crashed_children_are_retried_and_reported(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(
        textwrap.dedent("""
        import json, os, sys
        args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
        partition = json.load(open(args["partition_file"]))
        sample = os.path.basename(os.path.dirname(args["partition_file"]))
        marker = args["partition_file"] + ".tried"
        if sample == "1" or (sample == "2" and not os.path.exists(marker)):
            open(marker, "w").close()
            sys.exit("simulated crash")
        score = -abs(partition["forward"][0][0] - 0.3)
        json.dump({"score": score}, open(args["result_file"], "w"))
    """)
    )
    evaluate = SubprocessEvaluator(
        [sys.executable, str(child)],
        tmp_path,
        PartitionCandidate(2),
        devices=[0, 1],
    )
    searcher = PartitionRandomSearch(2, num_samples=4, batch_size=4)
    summary = SearchRunner(
        searcher,
        evaluate,
        tmp_path,
        num_workers=2,
        max_retries=1,
        worst_score=-9.0,
    ).run()
    records = {r["id"]: r for r in _log(tmp_path)}
    assert summary["failed"] == [1] and summary["retried"] == [1, 2]
    assert records[1]["score"] == -9.0 and records[1]["status"] == "failed"
    assert "simulated crash" in records[1]["errors"][-1]
    assert records[2]["status"] == "ok" and records[2]["attempts"] == 2
    assert records[0]["score"] > -1


def _search_binary(*args):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.methods.feature_partitioning.main",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_search_binary_runs_debug_es_and_reports_user_errors(tmp_path):
    gin_file = "gin_configs/feature_partitioning/es_debug.gin"
    out = _search_binary(
        "--mode=search",
        f"--gin_file={gin_file}",
        f"--gin.SEARCH_DIR='{tmp_path}'",
        "--gin.NUM_SAMPLES=128",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(_log(tmp_path)) == 128
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["num_evaluations"] == 128
    # `--job`, the deprecated alias of `--mode`, still works.
    bad = _search_binary("--job=search", "--gin_file=missing.gin")
    assert bad.returncode == 2
    assert (
        "tfmtl.methods.feature_partitioning.main: warning: --job is "
        "deprecated, use --mode"
    ) in bad.stderr.splitlines()
    errors = [line for line in bad.stderr.splitlines() if "error:" in line]
    assert errors == [
        "tfmtl.methods.feature_partitioning.main: error: "
        "FileNotFoundError: Gin file not found: "
        "missing.gin"
    ]


def test_runner_passes_task_scores_to_multiobjective_es(tmp_path):
    def make_searcher():
        return PartitionES(
            2,
            num_samples=8 + 8 * 4,
            init_random=8,
            num_deltas=4,
            num_to_use=3,
            seed=1,
            multiobjective=True,
        )

    searcher = make_searcher()
    summary = SearchRunner(
        searcher, DebugReward(2, per_task=True), tmp_path, num_workers=2
    ).run()
    records = _log(tmp_path)
    assert summary["num_evaluations"] == 40
    assert all(len(r["task_scores"]) == 2 for r in records)
    # Resuming replays the logged task scores: same final state.
    again = make_searcher()
    SearchRunner(again, DebugReward(2, per_task=True), tmp_path).run()
    np.testing.assert_allclose(again.theta, searcher.theta)
