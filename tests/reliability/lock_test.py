"""Issue #17 item 4: one writer per run directory.

The lock file names its holder (host, pid, start time); a second writer is
refused in one line naming it; a lock whose process is gone is taken over
with a warning; the lock is released when training ends.
"""

import json
import logging
import os
import socket
import subprocess

import pytest

from tfmtl.trainers import Action
from tfmtl.trainers.run_lock import LOCK_NAME, RunLock, RunLockedError


def _write_lock(directory, pid, host=None):
    directory.mkdir(parents=True, exist_ok=True)
    holder = {
        "host": host or socket.gethostname(),
        "pid": pid,
        "started": "2026-12-06T20:00:00+00:00",
    }
    (directory / LOCK_NAME).write_text(json.dumps(holder))


@pytest.fixture
def live_process():
    proc = subprocess.Popen(["sleep", "120"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_second_writer_is_refused_naming_the_holder(tmp_path, live_process):
    _write_lock(tmp_path, live_process)
    with pytest.raises(RunLockedError) as error:
        RunLock(tmp_path).acquire()
    text = str(error.value)
    assert f"pid {live_process} on {socket.gethostname()}" in text
    assert "2026-12-06T20:00:00" in text and "\n" not in text
    # The holder's lock is left alone.
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == live_process


def test_lock_from_another_host_is_refused(tmp_path):
    _write_lock(tmp_path, 1234, host="some-other-host")
    with pytest.raises(RunLockedError, match="pid 1234 on some-other-host"):
        RunLock(tmp_path).acquire()


def test_training_is_refused_while_another_process_holds_the_lock(
    tmp_path, make_run, live_process
):
    _write_lock(tmp_path, live_process)
    run = make_run(tmp_path)
    with pytest.raises(RunLockedError, match=f"pid {live_process}"):
        run.train(2)
    assert run.step == 0 and run.latest_checkpoint() is None


def test_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    gone = subprocess.Popen(["true"])
    gone.wait()
    _write_lock(tmp_path, gone.pid)
    lock = RunLock(tmp_path)
    with caplog.at_level(logging.WARNING):
        lock.acquire()
    (line,) = [
        r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()
    ]
    assert f"pid {gone.pid}" in line
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert (
        holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    )
    assert set(holder) == {"host", "pid", "started"}
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


class _LockSeen(Action):
    def __init__(self):
        super().__init__(every_n_steps=1)
        self.holders = []

    def __call__(self, step, logs, context):
        path = os.path.join(context.model_dir, LOCK_NAME)
        with open(path) as f:
            self.holders.append(json.load(f)["pid"])


def test_lock_is_held_while_training_and_released_after(tmp_path, make_run):
    seen = _LockSeen()
    make_run(tmp_path, actions=[seen]).train(2)
    assert seen.holders == [os.getpid(), os.getpid()]
    assert not (tmp_path / LOCK_NAME).exists()
