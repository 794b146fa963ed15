"""Issue #17 item 2: SIGTERM / SIGINT finish the step, save and stop.

A signal at a random step loses nothing: the checkpoint written on the way
out is at the step reached, and the resumed run ends at the weights of an
uninterrupted run.
"""

import os
import random
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.trainers import Action
from tfmtl.trainers.preemption import TrainingInterrupted

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMOKE = os.path.join(ROOT, "gin_configs", "smoke.gin")


def weights(controller):
    return [np.array(v) for v in controller.model.weights]


class _SignalAt(Action):
    """Sends `signum` to this process after step `step` (mid-run, as a
    preemption manager would)."""

    def __init__(self, step, signum):
        super().__init__(every_n_steps=1)
        self.at, self.signum = step, signum

    def __call__(self, step, logs, context):
        if step == self.at:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_at_random_step_then_resume_matches(tmp_path, make_run, signum):
    steps = 8
    at = random.Random(int(signum)).randrange(1, steps - 1)
    straight = make_run(tmp_path / "a", checkpoint_every=1000)
    straight.train(steps)
    before = signal.getsignal(signum)
    run = make_run(
        tmp_path / "b", checkpoint_every=1000, actions=[_SignalAt(at, signum)]
    )
    with pytest.raises(TrainingInterrupted) as stop:
        run.train(steps)
    assert (stop.value.signum, stop.value.step) == (signum, at)
    assert signal.getsignal(signum) is before  # handler put back
    # No periodic checkpoint was due: the one written on the signal is at
    # the step reached.
    assert run.latest_checkpoint().endswith(f"ckpt-{at}")
    resumed = make_run(tmp_path / "b", checkpoint_every=1000)
    resumed.train(steps)
    assert resumed.step == steps
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _command(model_dir, *extra):
    return [
        sys.executable,
        "-m",
        "tfmtl.train",
        f"--gin_file={SMOKE}",
        f"--gin.MODEL_DIR='{model_dir}'",
        "--mode=train",
        "--gin.TRAIN_STEPS=40",
        "--gin.CHECKPOINT_EVERY=1000",
        "--gin.EVAL_EVERY=None",
        "--gin.SUMMARY_EVERY=1",
        "--gin.DETERMINISTIC=True",
        *extra,
    ]


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


def _tensors(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    skip = ("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")
    return {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if not any(s in n for s in skip)
    }


@pytest.mark.large
def test_binary_sigterm_exits_by_signal_and_resume_matches(tmp_path):
    run = dict(cwd=ROOT, env=_env(), capture_output=True, text=True)
    straight = subprocess.run(_command(tmp_path / "a"), timeout=300, **run)
    assert straight.returncode == 0, straight.stderr[-3000:]

    at = random.Random(17).randrange(3, 30)
    proc = subprocess.Popen(
        _command(tmp_path / "b"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []

    def read():
        for line in proc.stderr:
            seen.append(line)
            if f"step {at}/40" in line:
                proc.send_signal(signal.SIGTERM)

    reader = threading.Thread(target=read)
    reader.start()
    proc.wait(timeout=300)
    reader.join()
    text = "".join(seen)
    # The process ends by the signal, as a preemption manager expects.
    assert proc.returncode == -signal.SIGTERM, text[-3000:]
    saved = tf.train.latest_checkpoint(str(tmp_path / "b"))
    assert saved is not None, text[-3000:]
    reached = int(saved.rsplit("-", 1)[1])
    assert at <= reached < 40, (at, reached)
    assert "Received SIGTERM" in text

    resumed = subprocess.run(_command(tmp_path / "b"), timeout=300, **run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"(step {reached})" in resumed.stderr
    a, b = _tensors(str(tmp_path / "a")), _tensors(str(tmp_path / "b"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(
            a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name
        )
