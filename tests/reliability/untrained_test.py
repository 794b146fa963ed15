"""Issue #17 item 0: no silent random weights.

`evaluate` and `export` without a checkpoint are one-line errors (exit 2)
unless `--allow_untrained`; `TRAIN_STEPS=0` is refused for training modes.
"""

import os
import subprocess
import sys

import pytest

from tfmtl import experiment
from tfmtl.testing import tiny_problem

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMOKE = os.path.join(ROOT, "gin_configs", "smoke.gin")


@pytest.mark.parametrize("mode", ["evaluate", "export"])
def test_evaluate_and_export_without_checkpoint_are_refused(tmp_path, mode):
    with pytest.raises(ValueError, match="No checkpoint in .*random weights"):
        experiment.run(
            mode=mode, model_dir=str(tmp_path), train_steps=2, **tiny_problem()
        )
    assert not (tmp_path / "export").exists()


def test_allow_untrained_evaluates_the_initialisation(tmp_path):
    results = experiment.run(
        mode="evaluate",
        model_dir=str(tmp_path),
        train_steps=2,
        eval_steps=1,
        allow_untrained=True,
        **tiny_problem(),
    )
    assert "loss/total" in results


@pytest.mark.parametrize("steps", [0, -3, "10", 2.5, True])
def test_train_steps_must_be_a_positive_int(tmp_path, steps):
    for mode in experiment.TRAINING_MODES:
        with pytest.raises(ValueError, match="train_steps must be a positive"):
            experiment.run(
                mode=mode, model_dir=str(tmp_path), train_steps=steps
            )


def _binary(model_dir, *extra, mode):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.train",
            f"--gin_file={SMOKE}",
            f"--gin.MODEL_DIR='{model_dir}'",
            f"--mode={mode}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize(
    "mode, extra, message",
    [
        ("evaluate", [], "No checkpoint in"),
        ("train", ["--gin.TRAIN_STEPS=0"], "train_steps must be a positive"),
    ],
)
def test_binary_refuses_in_one_line(tmp_path, mode, extra, message):
    result = _binary(tmp_path / "empty", *extra, mode=mode)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [x for x in result.stderr.splitlines() if "tfmtl.train: error" in x]
    assert len(lines) == 1, result.stderr[-3000:]
    assert message.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr
