"""Reads and writes task-affinity matrices as JSON (`affinity.json`).

Layout (TAG, Fifty et al. 2021, arXiv 2109.04617; orientation as in the
Taskonomy patch `tag/taskonomy/tag.patch`, which stores `T[target][source]`):

    {"tasks": [...],
     "orientation": "A[target][source]: ...",
     "kind": "tag" | "cs" | "hoa",
     "steps": <int, optional>,
     "matrix": [[...], ...]}

Plain Python, so the trainer can write it to a local `model_dir` and
`select_groups` can read it without TensorFlow.
"""

import json
import math
import numbers
import os
import tempfile

import numpy as np

ORIENTATION = (
    "A[target][source]: relative decrease of target's loss after a step on "
    "source"
)
_ORIENTATIONS = {
    "tag": ORIENTATION,
    "cs": "A[target][source]: cosine of target's and source's shared-"
    "parameter gradients",
    "hoa": "A[target][source]: validation error or loss of target trained "
    "with source; diagonal: target alone",
}
KINDS = tuple(_ORIENTATIONS)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _validate(tasks, matrix, kind):
    """Returns (tasks, matrix) as a list of names and float rows."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(tasks, list | tuple) or not tasks:
        raise ValueError(f"tasks must be a non-empty list, got {tasks!r}")
    if not all(isinstance(t, str) for t in tasks):
        raise ValueError(f"task names must be strings: {tasks}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"task names are not unique: {tasks}")
    n = len(tasks)
    try:
        rows = [list(row) for row in matrix]
    except TypeError as e:
        raise ValueError(f"matrix is not a list of rows: {e}") from e
    if not all(_is_number(v) for row in rows for v in row):
        raise ValueError("matrix entries must be numbers")
    rows = [[float(v) for v in row] for row in rows]
    if len(rows) != n or any(len(row) != n for row in rows):
        shape = [len(row) for row in rows]
        raise ValueError(
            f"matrix must be {n}x{n} for tasks {list(tasks)}; row lengths "
            f"{shape}"
        )
    if not all(math.isfinite(v) for row in rows for v in row):
        raise ValueError("matrix has NaN or infinite entries")
    return [str(t) for t in tasks], rows


def save_affinity(path, tasks, matrix, *, kind="tag", steps=None):
    """Writes an affinity matrix atomically (temporary file, then rename).

    Args:
        path: destination file, e.g. `<model_dir>/affinity.json`.
        tasks: task names, in matrix order.
        matrix: `[n, n]` nested sequence or array, `A[target][source]`.
        kind: `"tag"` (lookahead affinity), `"cs"` (gradient cosine) or
            `"hoa"` (pairwise validation errors or losses).
        steps: optional number of steps the matrix aggregates.

    Raises:
        ValueError: on a malformed matrix or task list.
    """
    matrix = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    tasks, rows = _validate(list(tasks), matrix, kind)
    content = {
        "tasks": tasks,
        "orientation": _ORIENTATIONS[kind],
        "kind": kind,
        "matrix": rows,
    }
    if steps is not None:
        content["steps"] = int(steps)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=".affinity-", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_affinity(path):
    """Reads a file written by `save_affinity`.

    Args:
        path: the JSON file.

    Returns:
        `(tasks, matrix, meta)`: a tuple of names, a float64 `[n, n]` array
        `A[target][source]`, and a dict with `kind`, `orientation` and
        `steps` (None when absent).

    Raises:
        OSError: when the file cannot be read.
        ValueError: when it is not valid JSON or the content is malformed
            (non-square, names not matching the matrix, NaN, another
            orientation).
    """
    with open(path) as f:
        try:
            content = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(content, dict) or not {"tasks", "matrix"} <= set(content):
        raise ValueError(f"{path}: expected a JSON object with tasks, matrix")
    kind = content.get("kind", "tag")
    if kind not in KINDS:
        raise ValueError(f"{path}: kind must be one of {KINDS}, got {kind!r}")
    orientation = content.get("orientation", _ORIENTATIONS.get(kind, ""))
    if not str(orientation).startswith("A[target][source]"):
        raise ValueError(
            f"{path}: orientation {orientation!r} is not A[target][source]"
        )
    try:
        tasks, rows = _validate(content["tasks"], content["matrix"], kind)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    meta = {"kind": kind, "orientation": orientation}
    meta["steps"] = content.get("steps")
    return tuple(tasks), np.asarray(rows, dtype=np.float64), meta
