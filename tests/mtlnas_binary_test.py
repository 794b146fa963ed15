"""The MTL-NAS / NDDR commands: tfmtl.train with gin_configs/mtlnas."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(gin_file, model_dir, *extra, mode="train_and_evaluate"):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.train",
            f"--gin_file=gin_configs/mtlnas/{gin_file}",
            f"--gin.MODEL_DIR='{model_dir}'",
            f"--mode={mode}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_search_then_build_the_discretised_network(tmp_path):
    search = tmp_path / "search"
    result = _run(
        "synthetic_search.gin",
        search,
        "--gin.TRAIN_STEPS=2",
        "--gin.EVAL_EVERY=2",
        "--gin.EVAL_STEPS=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    arch = json.loads((search / "architecture.json").read_text())
    assert arch["step"] == 2 and len(arch["edges"]) == 2 * 9
    assert (search / "connectivity.png").stat().st_size > 100

    retrain = tmp_path / "retrain"
    result = _run(
        "synthetic_retrain.gin",
        retrain,
        f"--gin.ARCHITECTURE='{search / 'architecture.json'}'",
        "--gin.EVAL_STEPS=1",
        # The discretised network built from the file, evaluated before
        # retraining (training it was checked by hand: see COMMAND).
        mode="evaluate",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    kept = json.loads((retrain / "architecture.json").read_text())
    assert [e["keep"] for e in kept["edges"]] == [
        e["keep"] for e in arch["edges"]
    ]


def test_missing_architecture_is_a_one_line_error(tmp_path):
    result = _run(
        "synthetic_retrain.gin",
        tmp_path,
        f"--gin.ARCHITECTURE='{tmp_path / 'none.json'}'",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "tfmtl.train: error:" in result.stderr
    assert "none.json" in result.stderr
