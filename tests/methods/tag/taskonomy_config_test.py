"""gin_configs/tag/taskonomy_synthetic.gin trains end to end with TAG.

The synthetic variant of TAG's Taskonomy setup (network, losses and the
SGD + weight-decay lookahead of google-research tag/taskonomy/tag.patch)
must train on a CPU, lower its objective and write a finite affinity
matrix averaged over the measured steps.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfmtl.methods.tag.affinity_file import load_affinity

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


@pytest.mark.large
def test_synthetic_taskonomy_tag_trains_and_records(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.train",
            "--gin_file=gin_configs/tag/taskonomy_synthetic.gin",
            "--mode=train",
            f"--gin.MODEL_DIR='{tmp_path}'",
            "--gin.TRAIN_STEPS=40",
            "--gin.AFFINITY_EVERY=5",
            "--gin.SUMMARY_EVERY=10",
            "--gin.CHECKPOINT_EVERY=40",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    objective = [
        float(v)
        for v in re.findall(r"objective ([0-9.]+)", run.stdout + run.stderr)
    ]
    assert len(objective) >= 4, (run.stdout + run.stderr)[-3000:]
    assert objective[-1] < 0.8 * objective[0], objective
    tasks, matrix, meta = load_affinity(str(tmp_path / "affinity.json"))
    assert list(tasks) == ["segmentation", "depth", "normals", "edges"]
    assert meta["kind"] == "tag" and meta["steps"] == 8
    assert matrix.shape == (4, 4) and np.all(np.isfinite(matrix))
    # A step on a task's own gradient lowers its own loss on average.
    assert np.mean(np.diag(matrix)) > 0
