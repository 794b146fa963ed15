"""What a run's checkpoints were made for: tasks, sharing, backbone.

The first checkpoint of a run writes `run_structure.json` next to it. A
later run in the same directory compares its own structure with it before
restoring: training may resume only with the same tasks in the same order
(weightings and schedules keep per-position state), the same sharing module
and backbone; `evaluate` and `export` restore by variable name, so there
only the set of tasks must match. A mismatch is refused in one line that
shows the stored and the requested values side by side.
"""

import json
import os

import tensorflow as tf

from tfmtl.trainers import summaries

FILE_NAME = "run_structure.json"


def describe(model, tasks):
    """The structure of a run: `{"tasks", "model", "sharing", "backbone"}`.

    Args:
        model: The run's `MultiTaskModel`.
        tasks: Sequence of `Task`, in the run's order.
    """
    sharing = getattr(model, "sharing", None)
    backbone = getattr(sharing, "backbone", None)
    return {
        "tasks": [f"{t.name} ({t.kind})" for t in tasks],
        "model": type(model).__name__,
        "sharing": type(sharing).__name__ if sharing is not None else None,
        "backbone": type(backbone).__name__ if backbone is not None else None,
    }


def read(directory):
    """The stored structure of the run in `directory`, or None."""
    path = os.path.join(directory, FILE_NAME)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except (ValueError, tf.errors.OpError):
        return None  # damaged: the by-name variable check still applies


def write(directory, structure):
    """Stores `structure` unless the directory has one already."""
    if read(directory) is None:
        summaries.write_json(os.path.join(directory, FILE_NAME), structure)


def differences(stored, requested, ordered=True):
    """`"field: stored X vs requested Y"` for every field that differs."""
    out = []
    for field in ("tasks", "model", "sharing", "backbone"):
        a, b = stored.get(field), requested.get(field)
        if field == "tasks" and not ordered and a and b:
            same = sorted(a) == sorted(b)
        else:
            same = a == b
        if field in stored and not same:
            out.append(f"{field}: stored {_show(a)} vs requested {_show(b)}")
    return out


def check(directory, requested, ordered=True):
    """Raises ValueError when `directory` holds a run of another structure.

    Args:
        directory: The checkpoint directory.
        requested: `describe(...)` of the run being built.
        ordered: Whether the order of the tasks must match (resuming
            training) or only their set (evaluate, export).
    """
    stored = read(directory)
    if stored is None:
        return
    diff = differences(stored, requested, ordered)
    if diff:
        what = "resume" if ordered else "restore"
        raise ValueError(
            f"Refusing to {what} {directory}: its checkpoints are of another "
            f"run ({'; '.join(diff)}). Use the stored configuration (see "
            "operative_config.gin there) or another MODEL_DIR."
        )


def _show(value):
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
