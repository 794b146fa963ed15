"""The best-of-N report over AdaShare's retrained architectures.

Reference: sunxm2357/AdaShare README, "Retrain Phase": 8 architectures are
sampled and retrained (`re-train.py --exp_ids <random seed id>`), and "the
best performance of all 8 runs is reported in the paper".
"""

import json

import numpy as np
import pytest

from tfmtl.methods.adashare.best_of import best_of, format_best_of, score_of


def _write_run(directory, miou, loss, baselines=None):
    directory.mkdir(parents=True)
    report = {
        "metrics": {"seg": {"miou": miou}, "depth": {"abs_err": loss}},
        "costs": {"total": {"params": 100, "union_params": 60}},
    }
    if baselines:
        # Δ_T (%) of Maninis et al., as AdaShareReport writes it.
        gains = [
            (miou - baselines["miou"]) / baselines["miou"],
            -(loss - baselines["abs_err"]) / baselines["abs_err"],
        ]
        report["delta_t"] = {"overall": 100 * float(np.mean(gains))}
    (directory / "report.json").write_text(json.dumps(report))
    results = {"loss/total": loss + 1.0, "metric/seg/miou": miou}
    (directory / "eval_results.json").write_text(
        json.dumps({"step": 4, "split": "test", "results": results})
    )


def test_the_best_of_eight_by_delta_t(tmp_path):
    rng = np.random.default_rng(0)
    miou = rng.uniform(0.3, 0.5, 8)
    abs_err = rng.uniform(0.5, 0.7, 8)
    base = {"miou": 0.4, "abs_err": 0.6}
    runs = {}
    for i in range(8):
        runs[f"sample_{i}"] = str(tmp_path / f"retrain_{i}")
        _write_run(tmp_path / f"retrain_{i}", miou[i], abs_err[i], base)
    seeds = {f"sample_{i}": 10 + i for i in range(8)}
    report = best_of(runs, seeds)
    # Independent Δ_T: mean relative gain, error metrics negated.
    delta = 100 * ((miou - 0.4) / 0.4 - (abs_err - 0.6) / 0.6) / 2
    assert report["criterion"] == "delta_t"
    assert report["best"] == f"sample_{int(np.argmax(delta))}"
    np.testing.assert_allclose(
        [r["score"] for r in report["runs"]], delta, rtol=1e-12
    )
    assert [r["seed"] for r in report["runs"]] == list(range(10, 18))
    table = format_best_of(report).splitlines()
    rows = [line for line in table if line.startswith("| sample_")]
    assert len(rows) == 8
    assert [r.split(" | ")[0] for r in rows if "(best)" in r] == [
        f"| {report['best']} (best)"
    ]
    assert table[-1] == f"Best of 8: {report['best']}."


def test_without_baselines_the_lowest_test_loss_wins(tmp_path):
    runs = {}
    for i, loss in enumerate([0.9, 0.4, 0.7]):
        runs[f"sample_{i}"] = str(tmp_path / f"r{i}")
        _write_run(tmp_path / f"r{i}", 0.5, loss)
    report = best_of(runs)
    assert report["criterion"] == "-loss/total"
    assert report["best"] == "sample_1"
    assert score_of(runs["sample_1"]) == pytest.approx(-1.4)


def test_untested_or_mixed_runs_are_clear_errors(tmp_path):
    _write_run(tmp_path / "a", 0.5, 0.5, {"miou": 0.4, "abs_err": 0.6})
    _write_run(tmp_path / "b", 0.5, 0.5)
    with pytest.raises(FileNotFoundError, match=r"\['c'\]"):
        best_of({"a": str(tmp_path / "a"), "c": str(tmp_path / "c")})
    with pytest.raises(ValueError, match="same configuration"):
        best_of({"a": str(tmp_path / "a"), "b": str(tmp_path / "b")})
