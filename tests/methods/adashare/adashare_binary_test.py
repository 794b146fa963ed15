"""AdaShare's phases, each one command, end to end on a synthetic config."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
CONFIG = "gin_configs/adashare/nyu_v2_2task_synthetic.gin"
RETRAIN = "gin_configs/adashare/retrain.gin"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result


def _train(model_dir, mode, *extra, files=(CONFIG,)):
    gin_files = [f"--gin_file={f}" for f in files]
    return _run(
        "tfmtl.train",
        *gin_files,
        f"--gin.MODEL_DIR='{model_dir}'",
        f"--mode={mode}",
        *extra,
    )


@pytest.mark.large
def test_warmup_policy_sample_retrain_test(tmp_path):
    run = tmp_path / "policy"
    # 1. Warm-up: all blocks, stream "train".
    result = _train(run, "train", "--gin.TRAIN_STEPS=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-4")
    warm = json.loads((run / "policy" / "policy.json").read_text())
    # Saved after step 4, with the state of the next (first policy) step.
    assert warm["step"] == 4 and warm["num_train_layers"] == 1
    assert warm["logits"] == [[[0.5, 0.5]] * 8] * 2
    # 2. Policy learning resumes the warm-up checkpoint (12 steps in all:
    # two cycles of 2 weight + 2 policy steps; synthetic.gin's 80 steps
    # reach a best policy, adashare_documented_path_test.py).
    result = _train(run, "train", "--gin.TRAIN_STEPS=12")
    assert result.returncode == 0, result.stderr[-3000:]
    learned = json.loads((run / "policy" / "policy.json").read_text())
    assert learned["step"] == 12 and learned["num_train_layers"] == 3
    assert learned["temperature"] == pytest.approx(5.0 * 0.965**2)
    logits = tf.constant(learned["logits"])
    assert logits.shape == (2, 8, 2)
    # Policy steps 6-7 trained block 8, steps 10-11 blocks 7-8; the L2
    # decay shrinks every logit but moves p(execute) of unlocked ones only.
    odds = logits[..., 0] - logits[..., 1]
    assert float(tf.reduce_max(tf.abs(odds[:, :6]))) < 1e-6
    assert float(tf.reduce_min(tf.abs(odds[:, 6:]))) > 1e-4
    assert (run / "policy" / "policy.png").exists()
    # 3. Sample 2 architectures, seeded.
    result = _run(
        "tfmtl.methods.adashare.main",
        f"--model_dir={run}",
        "--num_samples=2",
        "--seed=7",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sample = json.loads((run / "policy" / "sample_1.json").read_text())
    assert sample["seed"] == 8
    assert sorted(sample["policy"]) == ["normals", "segmentation"]
    assert all(d == 1 for p in sample["policy"].values() for d in p[:5])
    # 4. Retrain the sampled architecture from scratch; 5. test it.
    retrain = tmp_path / "retrain"
    policy_file = run / "policy" / "sample_1.json"
    extra = f"--gin.POLICY_FILE='{policy_file}'"
    files = (CONFIG, RETRAIN)
    result = _train(retrain, "train", extra, files=files)
    assert result.returncode == 0, result.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(retrain)).endswith("ckpt-4")
    result = _train(retrain, "evaluate", extra, files=files)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((retrain / "report.json").read_text())
    assert "miou" in report["metrics"]["segmentation"]
    assert "mean_angle" in report["metrics"]["normals"]
    costs = report["costs"]
    assert costs["segmentation"]["params"] < costs["total"]["params"]
    assert costs["normals"]["macs"] > 0
    assert report["policy"] == sample["policy"]
    assert (retrain / "policy.png").exists()
    assert "| segmentation | miou |" in (retrain / "report.md").read_text()


def test_sampling_without_a_policy_is_a_one_line_error(tmp_path):
    result = _run("tfmtl.methods.adashare.main", f"--model_dir={tmp_path}")
    assert result.returncode == 2
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("tfmtl.methods.adashare.main: error:")
    ]
    assert errors == [
        "tfmtl.methods.adashare.main: error: FileNotFoundError: "
        "No learned policy at "
        f"{tmp_path}/policy/policy.json; run the policy-learning phase "
        "(python -m tfmtl.train with an AdaShare config) first."
    ]


def test_phase_is_a_deprecated_alias_of_mode(tmp_path):
    result = _run(
        "tfmtl.methods.adashare.main",
        "--phase",
        "sample",
        f"--policy_file={tmp_path}/p.json",
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert (
        "tfmtl.methods.adashare.main: warning: --phase is deprecated, "
        "use --mode"
    ) in lines
    assert lines[-1].startswith(
        "tfmtl.methods.adashare.main: error: FileNotFoundError: "
        f"No learned policy at {tmp_path}/p.json"
    )


def _write_nyu(root, size=(12, 16), count=6):
    """Tiny files in the formatted NYUv2 layout (nyu_v2_3task.json)."""
    import numpy as np

    from tfmtl.testing import write_nyuv2_layout

    rng = np.random.default_rng(0)
    examples = []
    for _ in range(count):
        arrays = {
            "img": rng.integers(0, 256, (*size, 3), dtype=np.uint8),
            "seg": rng.integers(0, 40, (*size, 1)).astype(np.uint8),
            "normal_mask": rng.integers(0, 255, (*size, 3), dtype=np.uint8),
        }
        arrays["seg"][0] = 255
        arrays["normal_mask"][1] = 255
        arrays["depth"] = rng.uniform(0.5, 3.0, size).astype(np.float32)
        examples.append(arrays)
    splits = {"train": (0, 4), "train1": (0, 2), "train2": (2, 4)}
    write_nyuv2_layout(root, examples, {**splits, "test": (4, count)})


# The real-data benchmark file, shrunk: tiny trunk and heads, 8x8 crops.
REAL = "gin_configs/adashare/nyu_v2_3task.gin"
TINY = (
    "--gin.nyuv2.NYUv2.image_shape=(12, 16)",
    "--gin.augment.DenseAugment.crop_size=(8, 8)",
    "--gin.backbones.ResNet.stem='small'",
    "--gin.backbones.ResNet.widths=(4, 4, 8, 8)",
    "--gin.heads.ASPPHead.rates=(1, 2)",
    "--gin.heads.ASPPHead.hidden_channels=8",
    "--gin.GLOBAL_BATCH_SIZE=2",
    "--gin.WARMUP_STEPS=2",
    "--gin.WEIGHT_STEPS=1",
    "--gin.POLICY_STEPS=1",
    "--gin.CHECKPOINT_EVERY=100",
    "--gin.EVAL_STEPS=None",
)


@pytest.mark.large
def test_real_layout_config_runs_every_phase(tmp_path):
    data = tmp_path / "nyu"
    _write_nyu(data)
    run = tmp_path / "policy"
    common = (f"--gin.DATA_DIR='{data}'", *TINY)
    # Warm-up (2 steps) and policy learning (1 cycle) in one command.
    result = _train(run, "train", "--gin.TRAIN_STEPS=4", *common, files=(REAL,))
    assert result.returncode == 0, result.stderr[-3000:]
    learned = json.loads((run / "policy" / "policy.json").read_text())
    assert learned["step"] == 4
    assert sorted(learned["tasks"]) == ["depth", "normals", "segmentation"]
    result = _run(
        "tfmtl.methods.adashare.main", f"--model_dir={run}", "--num_samples=1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Retrain the sample, evaluating on the full 12x16 test images.
    retrain = tmp_path / "retrain"
    result = _train(
        retrain,
        "train_and_evaluate",
        f"--gin.POLICY_FILE='{run / 'policy' / 'sample_0.json'}'",
        "--gin.RETRAIN_STEPS=2",
        "--gin.EVAL_EVERY=2",
        *common,
        files=(REAL, RETRAIN),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((retrain / "report.json").read_text())
    assert set(report["delta_t"]) == {
        "overall",
        "segmentation",
        "normals",
        "depth",
    }
    # Normals percentages are compared with percentages (49.2, not 0.492).
    within = report["metrics"]["normals"]["within_30"]
    assert 0.0 <= within <= 100.0
    assert "Δ_T" in (retrain / "report.md").read_text()


def test_missing_data_directory_is_a_one_line_error(tmp_path):
    result = _train(
        tmp_path / "run",
        "train",
        f"--gin.DATA_DIR='{tmp_path / 'nowhere'}'",
        files=(REAL,),
    )
    assert result.returncode == 2
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("tfmtl.train: error:")
    ]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "nyu_v2_3task.json not found" in errors[0]
    assert "github.com/sunxm2357/AdaShare" in errors[0]
