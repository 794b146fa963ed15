"""`--mode=retrain` runs every sample through `tfmtl.search`, resumably.

The children are replaced by a stub interpreter that records its arguments
and writes a test report, so these tests check the outer loop only (the
real children run in `adashare_retrain_binary_test.py`).
"""

import json
import os
import stat
import sys

import pytest

from tfmtl.methods.adashare import retrain_samples

CONFIG = "gin_configs/adashare/nyu_v2_2task_synthetic.gin"

# A stand-in for `python -m tfmtl.methods.adashare.retrain_main ...`: it
# appends its arguments to CALLS, fails when FAIL names its SEED, and
# writes a test report whose Δ_T is 10 - SEED.
STUB = r"""#!{python}
import json, os, sys
args = sys.argv[1:]
assert args[:2] == ["-m", "tfmtl.methods.adashare.retrain_main"], args
value = lambda prefix: [a[len(prefix):] for a in args if a.startswith(prefix)]
binding = dict(b.split(" = ", 1) for b in value("--gin_bindings="))
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(args) + "\n")
seed = int(binding["SEED"])
if str(seed) == os.environ.get("FAIL"):
    sys.exit(3)
run_dir = value("--run_dir=")[0]
os.makedirs(run_dir, exist_ok=True)
report = {{
    "metrics": {{"segmentation": {{"miou": seed / 100}}}},
    "delta_t": {{"overall": 10.0 - seed}},
    "costs": {{"total": {{"params": 9, "union_params": 5}}}},
}}
with open(os.path.join(run_dir, "report.json"), "w") as f:
    json.dump(report, f)
with open(value("--result_file=")[0], "w") as f:
    json.dump({{"score": 10.0 - seed}}, f)
"""


@pytest.fixture
def stub(tmp_path, monkeypatch):
    path = tmp_path / "stub_python"
    path.write_text(STUB.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("CALLS", str(calls))

    def read_calls():
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text().splitlines()]

    return str(path), read_calls


def _write_samples(model_dir, seeds):
    policy_dir = model_dir / "policy"
    policy_dir.mkdir(parents=True)
    for i, seed in enumerate(seeds):
        payload = {"policy": {"segmentation": [1, 0]}, "seed": seed}
        (policy_dir / f"sample_{i}.json").write_text(json.dumps(payload))


def _bindings(call):
    prefix = "--gin_bindings="
    return [a[len(prefix) :] for a in call if a.startswith(prefix)]


def test_every_sample_retrains_once_with_its_seed_and_resumes(tmp_path, stub):
    """Each retrain is reseeded by its sample's seed, as the reference.

    Reference: sunxm2357/AdaShare `re-train.py::train`, which calls
    `fix_random_seed(opt["seed"][exp_id])` before `_train(exp_id, ...)`, so
    one seed fixes the sampled architecture, the initialisation and the
    data order of retrain `exp_id`.
    """
    python, calls = stub
    model_dir = tmp_path / "run"
    _write_samples(model_dir, [7, 8, 9])
    summary, report = retrain_samples.retrain(
        str(model_dir), [CONFIG], ["DATA_DIR = None"], python=python
    )
    assert len(calls()) == 3 and summary["failed"] == []
    for i, (call, seed) in enumerate(zip(calls(), [7, 8, 9])):
        run_dir = str(model_dir / f"retrain_{i}")
        assert f"--run_dir={run_dir}" in call
        gin_files = [a for a in call if a.startswith("--gin_file=")]
        assert gin_files == [
            f"--gin_file={CONFIG}",
            "--gin_file=gin_configs/adashare/retrain.gin",
        ]
        policy_file = str(model_dir / "policy" / f"sample_{i}.json")
        # The user's bindings first, the run's own last (they win).
        assert _bindings(call) == [
            "DATA_DIR = None",
            f"POLICY_FILE = {policy_file!r}",
            f"MODEL_DIR = {run_dir!r}",
            f"SEED = {seed}",
        ]
    # Δ_T = 10 - seed: sample_0 (seed 7) is the best of 3.
    assert report["best"] == "sample_0" and report["criterion"] == "delta_t"
    assert [r["seed"] for r in report["runs"]] == [7, 8, 9]
    assert (model_dir / "retrain" / "best_of.md").exists()
    log = model_dir / "retrain" / "search_log.jsonl"
    lines = log.read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["ok"] * 3
    # The same command again runs nothing.
    retrain_samples.retrain(str(model_dir), [CONFIG], python=python)
    assert len(calls()) == 3
    # Interrupted before the last run was logged: only that one runs again.
    log.write_text("\n".join(lines[:2]) + "\n")
    retrain_samples.retrain(str(model_dir), [CONFIG], python=python)
    assert len(calls()) == 4
    assert f"SEED = {9}" in _bindings(calls()[-1])


def test_a_retrain_failing_every_attempt_is_one_clear_error(
    tmp_path, stub, monkeypatch
):
    python, calls = stub
    model_dir = tmp_path / "run"
    _write_samples(model_dir, [0, 1])
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(
        retrain_samples.RetrainFailedError, match=r"\['sample_1'\] failed"
    ):
        retrain_samples.retrain(str(model_dir), [CONFIG], python=python)
    # One retry, as TAG's group runs.
    seeds = [_bindings(c)[-1] for c in calls()]
    assert sorted(seeds) == ["SEED = 0", "SEED = 1", "SEED = 1"]


def test_missing_samples_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run --mode=sample first"):
        retrain_samples.sample_files(str(tmp_path))
    _write_samples(tmp_path, [0])
    with pytest.raises(FileNotFoundError, match="No sample_1.json"):
        retrain_samples.sample_files(
            os.path.join(tmp_path, "policy"), num_samples=2
        )
