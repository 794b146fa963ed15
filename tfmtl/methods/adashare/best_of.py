"""The "best of N" report over AdaShare's retrained architectures.

The reference samples 8 architectures from the learned policy, retrains
each from scratch with its own seed and reports the best of the 8 runs
(README of sunxm2357/AdaShare, "Retrain Phase": "The best performance of
all 8 runs is reported in the paper"). `best_of` reads the test report of
every retrain (`<run>/report.json`, written by `AdaShareReport` in the test
phase) and ranks the runs by `score_of`.

# compat: the reference's README does not say how "best" is judged; we
# rank by Δ_T over the reference's single-task numbers (`BASELINES`), the
# quantity its training scripts select checkpoints by, and without
# baselines by the lowest test `loss/total`.
"""

import json
import os

REPORT = "report.json"
EVAL_RESULTS = "eval_results.json"


def _read(path):
    with open(path) as f:
        return json.load(f)


def score_of(run_dir):
    """A retrained run's test score (higher is better).

    Args:
        run_dir: the retrain's `MODEL_DIR`, after its test phase.

    Returns:
        Δ_T overall (in %) of `report.json` when the run has baselines,
        else minus the test `loss/total` of `eval_results.json`.

    Raises:
        FileNotFoundError: the run has not been tested.
    """
    report_path = os.path.join(run_dir, REPORT)
    if not os.path.exists(report_path):
        raise FileNotFoundError(
            f"No {REPORT} in {run_dir}; test the retrained architecture "
            "first (tfmtl-adashare --mode=retrain does both)."
        )
    report = _read(report_path)
    if "delta_t" in report:
        return float(report["delta_t"]["overall"])
    results = _read(os.path.join(run_dir, EVAL_RESULTS))["results"]
    return -float(results["loss/total"])


def best_of(run_dirs, seeds=None):
    """Ranks tested retrains; returns the report dict.

    Args:
        run_dirs: `{name: run_dir}` of the retrained architectures, in
            order (e.g. `{"sample_0": ".../retrain_0", ...}`).
        seeds: optional `{name: seed}` of each run's sampled policy.

    Returns:
        `{"criterion", "best", "runs"}`: `criterion` is "delta_t" or
        "-loss/total", `best` the name of the highest score, and `runs`
        one entry per run with `name`, `run_dir`, `score`, `seed`,
        `delta_t`, `metrics` and `costs` (of its `report.json`).
    """
    missing = [
        name
        for name, d in run_dirs.items()
        if not os.path.exists(os.path.join(d, REPORT))
    ]
    if missing:
        raise FileNotFoundError(
            f"No test report ({REPORT}) for {missing}; run "
            "tfmtl-adashare --mode=retrain first."
        )
    runs, criteria = [], set()
    for name, run_dir in run_dirs.items():
        report = _read(os.path.join(run_dir, REPORT))
        criteria.add("delta_t" if "delta_t" in report else "-loss/total")
        runs.append(
            {
                "name": name,
                "run_dir": run_dir,
                "score": score_of(run_dir),
                "seed": (seeds or {}).get(name),
                "delta_t": report.get("delta_t"),
                "metrics": report["metrics"],
                "costs": report["costs"],
            }
        )
    if len(criteria) > 1:
        raise ValueError(
            "Some retrains have baselines (Δ_T) and some do not; test them "
            "all with the same configuration."
        )
    best = max(runs, key=lambda r: r["score"])
    return {"criterion": criteria.pop(), "best": best["name"], "runs": runs}


def format_best_of(report):
    """A Markdown table of `best_of`'s report, the best run marked."""
    runs = report["runs"]
    columns = sorted(
        {(t, m) for r in runs for t, v in r["metrics"].items() for m in v}
    )
    head = ["run", report["criterion"], *[f"{t}/{m}" for t, m in columns]]
    head.append("params on paths")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for run in runs:
        mark = " (best)" if run["name"] == report["best"] else ""
        cells = [f"{run['name']}{mark}", f"{run['score']:+.4g}"]
        cells += [
            f"{run['metrics'].get(t, {}).get(m, float('nan')):.4g}"
            for t, m in columns
        ]
        cells.append(f"{run['costs']['total']['union_params']:,}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Best of {len(runs)}: {report['best']}."]
    return "\n".join(lines) + "\n"


def write_best_of(report, directory):
    """Writes `best_of.json` and `best_of.md` to `directory`; returns paths."""
    os.makedirs(directory, exist_ok=True)
    paths = (
        os.path.join(directory, "best_of.json"),
        os.path.join(directory, "best_of.md"),
    )
    with open(paths[0], "w") as f:
        json.dump(report, f, indent=1)
    with open(paths[1], "w") as f:
        f.write(format_best_of(report))
    return paths
