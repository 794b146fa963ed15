"""Issue #17 "done when": a random sequence of SIGTERM, SIGKILL and
truncated checkpoints on one run (5 faults) ends at the weights of an
uninterrupted run, tensor by tensor."""

import os
import random
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMOKE = os.path.join(ROOT, "gin_configs", "smoke.gin")
STEPS = 40


def _command(model_dir):
    return [
        sys.executable,
        "-m",
        "tfmtl.train",
        f"--gin_file={SMOKE}",
        f"--gin.MODEL_DIR='{model_dir}'",
        "--mode=train",
        f"--gin.TRAIN_STEPS={STEPS}",
        "--gin.CHECKPOINT_EVERY=5",
        "--gin.EVAL_EVERY=None",
        "--gin.SUMMARY_EVERY=1",
        "--gin.DETERMINISTIC=True",
    ]


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


def _run_until(model_dir, signum, after_steps):
    """Runs the binary; sends `signum` once `after_steps` more steps are
    logged. Returns (returncode, stderr)."""
    proc = subprocess.Popen(
        _command(model_dir),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen, steps = [], [0]

    def read():
        for line in proc.stderr:
            seen.append(line)
            if " step " in f" {line}" and f"/{STEPS} |" in line:
                steps[0] += 1
                if steps[0] == after_steps:
                    proc.send_signal(signum)

    reader = threading.Thread(target=read)
    reader.start()
    proc.wait(timeout=300)
    reader.join()
    return proc.returncode, "".join(seen)


def _tensors(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    skip = ("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")
    return {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if not any(s in n for s in skip)
    }


def _truncate_latest(model_dir):
    latest = tf.train.latest_checkpoint(model_dir)
    (data,) = tf.io.gfile.glob(latest + ".data-*")
    size = os.path.getsize(data)
    with open(data, "r+b") as f:
        f.truncate(size // 3)


@pytest.mark.large
def test_random_fault_sequence_ends_at_uninterrupted_weights(tmp_path):
    straight = subprocess.run(
        _command(tmp_path / "a"),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert straight.returncode == 0, straight.stderr[-3000:]

    rng = random.Random(2026)
    faults = ["SIGTERM", "SIGKILL", "truncate", "SIGTERM", "SIGKILL"]
    rng.shuffle(faults)
    run_dir = str(tmp_path / "b")
    for fault in faults:
        if fault == "truncate":
            if tf.train.latest_checkpoint(run_dir):
                _truncate_latest(run_dir)
            continue
        signum = getattr(signal, fault)
        rc, text = _run_until(run_dir, signum, rng.randrange(2, 8))
        if rc == 0:
            break  # finished before the fault came
        assert rc == -signum, (fault, text[-3000:])
    final = subprocess.run(
        _command(run_dir),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr[-3000:]
    assert tf.train.latest_checkpoint(run_dir).endswith(f"ckpt-{STEPS}")
    a, b = _tensors(str(tmp_path / "a")), _tensors(run_dir)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(
            a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name
        )
