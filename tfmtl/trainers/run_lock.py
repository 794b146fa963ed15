"""One writer per run directory: a lock file held while training.

The lock is `<checkpoint dir>/LOCK`, a JSON line with the holder's host,
pid and start time. On a local disk it is created with `O_CREAT | O_EXCL`,
so of two processes starting together exactly one gets it. A second writer
is refused with one line naming the holder. A lock whose process is gone
(same host, no such pid) is taken over with a warning; a lock held from
another host cannot be checked and is refused (delete the file when that
run is known to be gone). On `gs://` and other remote filesystems the
check and the write are two operations, so two writers starting within
the same second may both proceed (see `docs/reliability.md`).
"""

import contextlib
import datetime
import json
import os
import socket

import tensorflow as tf
from absl import logging

LOCK_NAME = "LOCK"


class RunLockedError(ValueError):
    """Another live process is training into the same directory."""


class RunLock:
    """The lock file of one run directory.

    Args:
        directory: The run's checkpoint directory.

    Example:
    ```python
    with RunLock(model_dir).held():
        train()
    ```
    """

    def __init__(self, directory):
        self.directory = str(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self._mine = None

    @contextlib.contextmanager
    def held(self):
        """Holds the lock for the block; raises `RunLockedError` if taken."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def acquire(self):
        """Takes the lock (or a stale one); raises `RunLockedError`."""
        tf.io.gfile.makedirs(self.directory)
        mine = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"
            ),
        }
        text = json.dumps(mine)
        for _ in range(2):
            if self._create(text):
                self._mine = text
                return
            holder = self._read()
            if holder is not None and _alive(holder):
                raise RunLockedError(
                    f"{self.directory} is in use by pid {holder.get('pid')} "
                    f"on {holder.get('host')} (started "
                    f"{holder.get('started')}; lock {self.path}). Stop that "
                    "run, wait for it, or train into another MODEL_DIR."
                )
            if holder is not None and holder.get("pid") != os.getpid():
                logging.warning(
                    "Taking over the stale lock %s of pid %s on %s (started "
                    "%s): that process is gone.",
                    self.path,
                    holder.get("pid"),
                    holder.get("host"),
                    holder.get("started"),
                )
            elif holder is None:
                logging.warning(
                    "Taking over the unreadable lock %s.", self.path
                )
            _remove(self.path)
        raise RunLockedError(f"Could not take the lock {self.path}.")

    def release(self):
        """Removes the lock file if this process still holds it."""
        if self._mine is None:
            return
        try:
            with tf.io.gfile.GFile(self.path) as f:
                if f.read() == self._mine:
                    tf.io.gfile.remove(self.path)
        except tf.errors.NotFoundError:
            pass
        self._mine = None

    def _create(self, text):
        if "://" not in self.path:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return True
        if tf.io.gfile.exists(self.path):
            return False
        with tf.io.gfile.GFile(self.path, "w") as f:
            f.write(text)
        return True

    def _read(self):
        try:
            with tf.io.gfile.GFile(self.path) as f:
                holder = json.loads(f.read())
        except (tf.errors.OpError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None


def _alive(holder):
    """Whether the lock's process may still run (unknown hosts: yes)."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False  # a lock this process left behind
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path):
    with contextlib.suppress(tf.errors.NotFoundError):
        tf.io.gfile.remove(path)
