"""The `python -m tfmtl.train` binary, end to end in subprocesses."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "gin_configs", "smoke.gin")


def _command(model_dir, *extra, mode="train_and_evaluate", gin_file=SMOKE):
    return [
        sys.executable,
        "-m",
        "tfmtl.train",
        f"--gin_file={gin_file}",
        f"--gin.MODEL_DIR='{model_dir}'",
        f"--mode={mode}",
        *extra,
    ]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _run(args, timeout=240, **env):
    return subprocess.run(
        args,
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.large
def test_smoke_train_and_evaluate_then_export(tmp_path):
    model_dir = tmp_path / "run"
    result = _run(_command(model_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step 6/6" in result.stderr
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-6")
    operative = (model_dir / "operative_config.gin").read_text()
    assert "experiment.run.train_steps = %TRAIN_STEPS" in operative
    result = _run(_command(model_dir, mode="export"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (model_dir / "export" / "model.keras").exists()
    assert (model_dir / "export" / "saved_model" / "saved_model.pb").exists()


@pytest.mark.parametrize(
    "gin_files, args, message",
    [
        (["nope.gin"], [], "Gin file not found: nope.gin"),
        ([SMOKE], ["--gin.experiment.run.bogus=1"], "doesn't have a parameter"),
        (
            [SMOKE],
            ["--gin.TASK_NAMES=['depth', 'colour']"],
            "Unknown tasks ['colour']",
        ),
        ([SMOKE], ["--gin.MODEL_DIR=None"], "Set MODEL_DIR"),
        (
            [SMOKE, "gin_configs/data/celeba.gin"],
            [
                "--gin.TASK_NAMES=['Goatee']",
                "--gin.CELEBA_DATA_DIR='/nonexistent/celeba'",
            ],
            "tfds build celeb_a",
        ),
    ],
)
def test_bad_input_gives_one_error_line(tmp_path, gin_files, args, message):
    command = _command(tmp_path / "run", *args, gin_file=gin_files[0])
    command += [f"--gin_file={f}" for f in gin_files[1:]]
    result = _run(command)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [x for x in result.stderr.splitlines() if "tfmtl.train: error" in x]
    assert len(lines) == 1 and message in lines[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def _checkpoint_tensors(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    names = reader.get_variable_to_shape_map()
    skip = ("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")
    return {
        n: reader.get_tensor(n) for n in names if not any(s in n for s in skip)
    }


@pytest.mark.large
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    extra = [
        "--gin.TRAIN_STEPS=40",
        "--gin.CHECKPOINT_EVERY=5",
        "--gin.EVAL_EVERY=None",
        "--gin.DETERMINISTIC=True",
    ]
    straight = _run(_command(tmp_path / "a", *extra, mode="train"))
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed_dir = tmp_path / "b"
    proc = subprocess.Popen(
        _command(killed_dir, *extra, mode="train"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(str(killed_dir))
        if latest and int(latest.rsplit("-", 1)[1]) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(tf.train.latest_checkpoint(str(killed_dir)).rsplit("-")[-1])
    assert 10 <= killed_at < 40
    resumed = _run(_command(killed_dir, *extra, mode="train"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Restored {killed_dir}" in resumed.stderr

    a, b = (
        _checkpoint_tensors(str(tmp_path / "a")),
        _checkpoint_tensors(str(killed_dir)),
    )
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(
            a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name
        )


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.large
def test_multi_worker_two_local_processes_train(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        procs.append(
            subprocess.Popen(
                _command(
                    tmp_path / "run",
                    "--gin.STRATEGY='multi_worker'",
                    mode="train",
                ),
                cwd=ROOT,
                env=_env(TF_CONFIG=json.dumps(config)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        errors = [p.communicate(timeout=240)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], errors[0][-3000:]
    assert "2 replica(s)" in errors[0]
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-6")
    assert not (tmp_path / "run" / ".workers" / "worker_1").exists()
