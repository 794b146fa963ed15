"""Checkpoint files on disk: atomic writes, listing, rotation, set-aside.

A checkpoint `<dir>/ckpt-<step>` is written under a temporary name
(`<dir>/.tmp-ckpt-<step>`), its data files are renamed into place, then its
`.index` (a checkpoint without its index is never listed as complete), and
only then does the `checkpoint` state file name it (TensorFlow writes that
file atomically). On a local disk each rename is atomic, so a crash at any
point leaves either the previous set of checkpoints or the new one; on
`gs://` a rename is a copy and a delete (see `docs/reliability.md`).

Checkpoints are listed from the directory itself as well as from the state
file, so a state file full of garbage or one that names a deleted file
cannot hide the checkpoints that are there.
"""

import os
import re

import tensorflow as tf
from absl import logging

_TMP = ".tmp-"


def step_of(prefix):
    """The step number of `.../<name>-<step>`, or None."""
    match = re.search(r"-(\d+)$", os.path.basename(prefix))
    return int(match.group(1)) if match else None


def write_atomically(checkpoint, prefix):
    """Writes `checkpoint` to `prefix` (temp name, rename, index last).

    Args:
        checkpoint: A `tf.train.Checkpoint`.
        prefix: The final prefix, e.g. `<dir>/ckpt-40`.

    Returns:
        `prefix`.
    """
    directory, name = os.path.split(prefix)
    tmp = os.path.join(directory, _TMP + name)
    _remove(tmp)
    checkpoint.write(tmp)
    gfile = tf.io.gfile
    if gfile.exists(prefix + ".index"):
        gfile.remove(prefix + ".index")  # never an old index on new data
    for path in gfile.glob(tmp + ".data-*"):
        gfile.rename(path, prefix + path[len(tmp) :], overwrite=True)
    gfile.rename(tmp + ".index", prefix + ".index", overwrite=True)
    return prefix


def _remove(prefix):
    for path in tf.io.gfile.glob(prefix + ".*"):
        tf.io.gfile.remove(path)


def state_paths(directory):
    """Checkpoints the `checkpoint` state file names, newest first.

    A state file that cannot be parsed is reported in one line and
    ignored (the directory listing still finds the checkpoints).
    """
    state_file = os.path.join(directory, "checkpoint")
    if not tf.io.gfile.exists(state_file):
        return []
    try:
        state = _parse_state(state_file)
    except Exception as error:  # noqa: BLE001 - any garbage is ignored
        logging.warning(
            "Ignoring unreadable checkpoint state file %s (%s: %s); "
            "listing the directory instead.",
            state_file,
            type(error).__name__,
            " ".join(str(error).split())[:200],
        )
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    paths = [
        p if os.path.isabs(p) or "://" in p else os.path.join(directory, p)
        for p in paths
    ]
    return sorted(paths, key=lambda p: step_of(p) or -1, reverse=True)


def _parse_state(path):
    from google.protobuf import text_format
    from tensorflow.python.checkpoint import checkpoint_management

    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    state = checkpoint_management.CheckpointState()
    text_format.Merge(text, state)
    return state


def complete(directory, name="ckpt"):
    """Prefixes `<directory>/<name>-<step>` that have an index, newest
    first."""
    found = {}
    for index in tf.io.gfile.glob(os.path.join(directory, f"{name}-*.index")):
        prefix = index[: -len(".index")]
        if step_of(prefix) is not None:
            found[step_of(prefix)] = prefix
    return [found[s] for s in sorted(found, reverse=True)]


def candidates(directory, name="ckpt"):
    """Every checkpoint to try when resuming, newest first.

    The union of the complete checkpoints in the directory and the ones the
    state file names (those may turn out unreadable; trying them is what
    reports them).
    """
    by_step = {step_of(p): p for p in complete(directory, name)}
    for path in state_paths(directory):
        step = step_of(path)
        if step is not None and step not in by_step:
            by_step[step] = path
    return [by_step[s] for s in sorted(by_step, reverse=True)]


def update_state(directory, latest, max_to_keep, name="ckpt"):
    """Names `latest` in the state file and deletes all but the newest
    `max_to_keep` complete checkpoints (and stale temporary files)."""
    kept = complete(directory, name)[: max(int(max_to_keep), 1)]
    if latest not in kept:
        kept.insert(0, latest)
    tf.compat.v1.train.update_checkpoint_state(
        directory,
        latest,
        all_model_checkpoint_paths=list(reversed(kept)),
    )
    for prefix in complete(directory, name):
        if prefix not in kept:
            _remove(prefix)
    for path in tf.io.gfile.glob(os.path.join(directory, _TMP + "*")):
        if not tf.io.gfile.isdir(path):
            tf.io.gfile.remove(path)


def set_aside(directory, after_step, name="ckpt"):
    """Moves checkpoints newer than `after_step` to `<directory>/diverged/`.

    Returns:
        The newest remaining checkpoint, or None.
    """
    aside = os.path.join(directory, "diverged")
    for prefix in candidates(directory, name):
        if step_of(prefix) > after_step:
            tf.io.gfile.makedirs(aside)
            for path in tf.io.gfile.glob(prefix + ".*"):
                target = os.path.join(aside, os.path.basename(path))
                tf.io.gfile.rename(path, target, overwrite=True)
    left = complete(directory, name)
    if left:
        tf.compat.v1.train.update_checkpoint_state(
            directory, left[0], all_model_checkpoint_paths=left[::-1]
        )
    elif tf.io.gfile.exists(os.path.join(directory, "checkpoint")):
        tf.io.gfile.remove(os.path.join(directory, "checkpoint"))
    return left[0] if left else None
