"""AdaShare's documented synthetic path works, and its missing files are
one-line errors."""

import json
import os
import re
import shlex
import subprocess
import sys

import gin
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
SYNTHETIC = {
    "nyu_v2_2task": 18,
    "nyu_v2_3task": 34,
    "cityscapes_2task": 34,
    "taskonomy_5task": 34,
}
# BasicBlocks per ResNet depth: sunxm2357/AdaShare `envs/blockdrop_env.py`
# (layers [2, 2, 2, 2] for ResNet18, [3, 4, 6, 3] for ResNet34).
BLOCKS = {18: 8, 34: 16}


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def _error_lines(result, prog):
    return [
        line
        for line in result.stderr.splitlines()
        if line.startswith(f"{prog}: error:")
    ]


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_policy_phase_reaches_a_competing_evaluation(name):
    """The synthetic files' TRAIN_STEPS reach an evaluation where a policy
    competes for `best_policy.json`. Reference: `train.py::train` of
    sunxm2357/AdaShare evaluates after every weight phase and saves 'best'
    once `current_iter - warm_up_iters >= num_blocks * curriculum_speed *
    (weight_iter_alternate + alpha_iter_alternate)` (its iteration k is our
    step k + 1, see adashare_validation_cadence_test.py)."""
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    path = os.path.join(ROOT, f"gin_configs/adashare/{name}_synthetic.gin")
    try:
        gin.parse_config_files_and_bindings([path], ["MODEL_DIR = '/x'"])
        value = {
            k: gin.query_parameter(f"%{k}")
            for k in (
                "TRAIN_STEPS",
                "WARMUP_STEPS",
                "WEIGHT_STEPS",
                "POLICY_STEPS",
                "CURRICULUM_SPEED",
            )
        }
        depth = gin.query_parameter("backbones.ResNet.depth")
    finally:
        gin.clear_config()
    assert depth == SYNTHETIC[name]
    warmup, weight = value["WARMUP_STEPS"], value["WEIGHT_STEPS"]
    cycle = weight + value["POLICY_STEPS"]
    first = BLOCKS[depth] * value["CURRICULUM_SPEED"] * cycle
    competing = [
        step
        for step in range(warmup + weight, value["TRAIN_STEPS"] + 1, cycle)
        if (step - 1) - warmup >= first
    ]
    assert competing, (name, value)


def _commands(path):
    """The `# COMMAND:` lines of a gin file, continuations joined."""
    with open(os.path.join(ROOT, path)) as f:
        head = [line[2:].rstrip("\n") for line in f if line.startswith("# ")]
    text = "\n".join(head).replace("\\\n", " ")
    return [
        line.split("COMMAND:", 1)[1].split("#")[0]
        for line in text.splitlines()
        if line.startswith("COMMAND:")
    ]


@pytest.mark.large
def test_documented_synthetic_policy_phase_writes_the_best_policy(tmp_path):
    # The synthetic file's command, with our MODEL_DIR (16 blocks).
    (command,) = _commands("gin_configs/adashare/nyu_v2_3task_synthetic.gin")
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "tfmtl.train"]
    run = tmp_path / "run"
    args = [
        f"--gin.MODEL_DIR='{run}'" if a.startswith("--gin.MODEL_DIR") else a
        for a in args[1:]
    ]
    result = _run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    best = json.loads((run / "policy" / "best_policy.json").read_text())
    assert best["num_train_layers"] == 16 == len(best["blocks"])
    # Candidates at steps 70, 74 and 78 (see synthetic.gin).
    assert best["step"] in (70, 74, 78) and best["metric"] == "loss/total"
    # The benchmark file's sample command, on that run.
    sample = _commands("gin_configs/adashare/nyu_v2_3task.gin")[2]
    sample = sample.replace("/tmp/adashare/nyu_v2_3task", str(run))
    result = _run(*shlex.split(sample)[1:])
    assert result.returncode == 0, result.stderr[-3000:]
    for i in range(8):
        drawn = json.loads((run / "policy" / f"sample_{i}.json").read_text())
        assert drawn["source"].endswith("best_policy.json")
        assert drawn["step"] == best["step"]


def test_sampling_before_a_best_policy_says_why(tmp_path):
    policy = tmp_path / "policy"
    policy.mkdir()
    last = {
        "step": 12,
        "tasks": ["a"],
        "blocks": [f"b{i}" for i in range(16)],
        "logits": [[[0.5, 0.5]] * 16],
        "num_train_layers": 3,
    }
    (policy / "policy.json").write_text(json.dumps(last))
    best = policy / "best_policy.json"
    prog = "tfmtl.methods.adashare.main"
    result = _run(
        "-m", prog, f"--model_dir={tmp_path}", f"--policy_file={best}"
    )
    assert result.returncode == 2
    (line,) = _error_lines(result, prog)
    assert re.search(
        "No best policy at .*best_policy.json: SaveBestPolicy writes it .*"
        r"the last policy \(.*policy.json\) is from step 12 with 3 of 16 "
        "blocks unlocked. Train longer",
        line,
    ), line
    assert f"--policy_file={policy / 'policy.json'}" in line
    assert "run the policy-learning phase" not in line


@pytest.mark.large
@pytest.mark.parametrize(
    "mode, files", [("train", ()), ("evaluate", ("test",))]
)
def test_retrain_and_test_without_the_sample_are_one_line(
    tmp_path, mode, files
):
    gin_files = ["nyu_v2_3task_synthetic", "retrain", *files]
    missing = tmp_path / "policy" / "sample_0.json"
    result = _run(
        "-m",
        "tfmtl.train",
        *[f"--gin_file=gin_configs/adashare/{f}.gin" for f in gin_files],
        f"--gin.MODEL_DIR='{tmp_path / 'retrain_0'}'",
        f"--gin.POLICY_FILE='{missing}'",
        f"--mode={mode}",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tfmtl.train: error: FileNotFoundError: No policy file {missing} "
        "(POLICY_FILE); write the samples with tfmtl-adashare --mode=sample "
        "first."
    ]
