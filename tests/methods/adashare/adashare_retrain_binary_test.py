"""`tfmtl-adashare --mode=retrain` / `--mode=report` end to end (synthetic)."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
CONFIG = "gin_configs/adashare/nyu_v2_2task_synthetic.gin"
PROG = "tfmtl.methods.adashare.main"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", PROG, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _write_policy(run):
    """A learned policy of the synthetic NYUv2 config (2 tasks, 8 blocks)."""
    logits = [[[0.5, 0.5]] * 8, [[2.0, 0.0]] * 4 + [[0.0, 2.0]] * 4]
    payload = {
        "step": 40,
        "tasks": ["segmentation", "normals"],
        "blocks": [f"block{i}" for i in range(8)],
        "logits": logits,
        "num_train_layers": 8,
    }
    (run / "policy").mkdir(parents=True)
    (run / "policy" / "policy.json").write_text(json.dumps(payload))


@pytest.mark.large
def test_retrain_mode_retrains_tests_and_ranks_every_sample(tmp_path):
    """Reference: sunxm2357/AdaShare README ("Retrain Phase": 8 sampled
    architectures, `re-train.py --exp_ids <random seed id>`, the best of the
    8 runs reported) and `re-train.py::train` (one seed per retrain)."""
    run = tmp_path / "run"
    _write_policy(run)
    result = _run("--mode=sample", f"--model_dir={run}", "--num_samples=2")
    assert result.returncode == 0, result.stderr[-3000:]
    args = ("--mode=retrain", f"--model_dir={run}", f"--gin_file={CONFIG}")
    result = _run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    for i in range(2):
        retrain = run / f"retrain_{i}"
        sample = json.loads((run / "policy" / f"sample_{i}.json").read_text())
        assert tf.train.latest_checkpoint(str(retrain)).endswith("ckpt-4")
        report = json.loads((retrain / "report.json").read_text())
        assert report["policy"] == sample["policy"]
        # Tested on the whole test split (16 synthetic images).
        evaluation = json.loads((retrain / "eval_results.json").read_text())
        assert evaluation["split"] == "test" and evaluation["step"] == 4
        config = (retrain / "operative_config.gin").read_text()
        assert f"SEED = {sample['seed']}" in config, config
    best = json.loads((run / "retrain" / "best_of.json").read_text())
    losses = []
    for i in range(2):
        path = run / f"retrain_{i}" / "eval_results.json"
        losses.append(json.loads(path.read_text())["results"]["loss/total"])
    assert best["criterion"] == "-loss/total"
    assert best["best"] == f"sample_{losses.index(min(losses))}"
    assert "Best of 2: " in result.stdout
    # Again: every run is in the log, no child starts.
    result = _run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run / "retrain" / "samples" / "0" / "log-1.txt").exists()
    assert sorted(os.listdir(run / "retrain" / "samples" / "0")) == [
        "log-0.txt",
        "result.json",
    ]
    result = _run("--mode=report", f"--model_dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Best of 2: {best['best']}." in result.stdout
