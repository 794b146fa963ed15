"""Reads and writes task-affinity matrices as JSON (`affinity.json`).

Layout (TAG, Fifty et al. 2021, arXiv 2109.04617; orientation as in the
Taskonomy patch `tag/taskonomy/tag.patch`, which stores `T[target][source]`):

    {"tasks": [...],
     "orientation": "A[target][source]: ...",
     "kind": "tag" | "cs" | "hoa",
     "steps": <int, optional>,
     "matrix": [[...], ...],
     "sources": [["a", "b"], ...],          (optional: combined sources)
     "source_matrix": [[...], ...],          ([target][combined source])
     "history": {"steps_per_epoch": N,       (optional: per-epoch means)
                 "epochs": [0, 1, ...], "measurements": [...],
                 "matrices": [[[...]]], "source_matrices": [[[...]]]}}

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


def _validate_rows(rows, n_rows, n_cols, what):
    """Finite float rows of an `[n_rows, n_cols]` nested sequence."""
    rows = rows.tolist() if hasattr(rows, "tolist") else rows
    try:
        rows = [list(row) for row in rows]
    except TypeError as e:
        raise ValueError(f"{what} is not a list of rows: {e}") from e
    if len(rows) != n_rows or any(len(row) != n_cols for row in rows):
        raise ValueError(f"{what} must be {n_rows}x{n_cols}")
    if not all(_is_number(v) and math.isfinite(v) for r in rows for v in r):
        raise ValueError(f"{what} entries must be finite numbers")
    return [[float(v) for v in row] for row in rows]


def _validate_sources(tasks, sources):
    """Combined sources: lists of two or more distinct known task names."""
    out = []
    for source in sources:
        members = [str(t) for t in source]
        if len(members) < 2 or len(set(members)) != len(members):
            raise ValueError(f"a combined source needs 2+ tasks: {source}")
        if not set(members) <= set(tasks):
            raise ValueError(f"source {source} names unknown tasks")
        out.append(members)
    return out


def _validate_extras(tasks, sources, source_matrix, history):
    """The optional `sources`, `source_matrix` and `history` entries."""
    n, extras = len(tasks), {}
    sources = _validate_sources(tasks, sources or [])
    if sources or source_matrix is not None:
        extras["sources"] = sources
        extras["source_matrix"] = _validate_rows(
            source_matrix, n, len(sources), "source_matrix"
        )
    if history is not None:
        epochs = [int(e) for e in history["epochs"]]
        if epochs != sorted(set(epochs)) or any(e < 0 for e in epochs):
            raise ValueError(f"history epochs must increase: {epochs}")
        out = {
            "steps_per_epoch": int(history["steps_per_epoch"]),
            "epochs": epochs,
            "measurements": [int(m) for m in history["measurements"]],
        }
        keys = [("matrices", n)]
        if sources:
            keys.append(("source_matrices", len(sources)))
        for key, cols in keys:
            if len(history[key]) != len(epochs):
                raise ValueError(f"history {key} must have one per epoch")
            out[key] = [
                _validate_rows(m, n, cols, f"history {key}")
                for m in history[key]
            ]
        extras["history"] = out
    return extras


def save_affinity(
    path,
    tasks,
    matrix,
    *,
    kind="tag",
    steps=None,
    sources=None,
    source_matrix=None,
    history=None,
):
    """Writes an affinity matrix atomically (temporary file, then rename).

    Args:
        path: destination file, e.g. `<model_dir>/affinity.json`.
        tasks: task names, in matrix order.
        matrix: `[n, n]` nested sequence or array, `A[target][source]`.
        kind: `"tag"` (lookahead affinity), `"cs"` (gradient cosine) or
            `"hoa"` (pairwise validation errors or losses).
        steps: optional number of steps the matrix aggregates.
        sources: optional combined lookahead sources, lists of 2+ task
            names (see `affinity_sources`).
        source_matrix: `[n, len(sources)]`, `A[target][combined source]`.
        history: optional per-epoch means (`AffinityHistory.to_json`).

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
    content.update(_validate_extras(tasks, sources, source_matrix, history))
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
        `A[target][source]`, and a dict with `kind`, `orientation`,
        `steps` (None when absent), `sources` (list of name tuples),
        `source_matrix` (float64 `[n, len(sources)]` or None) and
        `history` (None, or the file's entry with float64 arrays).

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
    try:
        extras = _validate_extras(
            tasks,
            content.get("sources"),
            content.get("source_matrix"),
            content.get("history"),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: bad sources or history ({e})") from e
    meta = {"kind": kind, "orientation": orientation}
    meta["steps"] = content.get("steps")
    meta["sources"] = [tuple(s) for s in extras.get("sources", [])]
    meta["source_matrix"] = None
    if "source_matrix" in extras:
        meta["source_matrix"] = np.asarray(extras["source_matrix"], np.float64)
    meta["history"] = extras.get("history")
    if meta["history"] is not None:
        for key in ("matrices", "source_matrices"):
            if key in meta["history"]:
                meta["history"][key] = np.asarray(
                    meta["history"][key], np.float64
                )
    return tuple(tasks), np.asarray(rows, dtype=np.float64), meta
