"""Feasible ranges of partition overlaps: checks and the inverse mapping.

Helpers of `Partition` (see its module docstring for the ranges).
"""

import numpy as np


def _relative(value, lo, hi):
    span = hi - lo
    safe = np.where(span > 1e-12, span, 1.0)
    return np.where(span > 1e-12, (value - lo) / safe, 0.0)


def relative_matrices(forward, backward):
    """The forward and backward matrices whose masks are the given ones.

    Args:
        forward: [N, C] forward masks (0 / 1).
        backward: [N, C] backward masks (restricted to `forward`).

    Returns:
        `(forward, backward)` [N, N] matrices in [0, 1].
    """
    forward = np.asarray(forward, np.float64)
    backward = np.asarray(backward, np.float64) * forward
    channels = forward.shape[1]
    d = forward.sum(1) / channels
    o = forward @ forward.T / channels
    b = backward.sum(1) / channels
    ob = backward @ backward.T / channels
    fwd = _relative(
        o,
        np.maximum(0.0, d[:, None] + d[None, :] - 1.0),
        np.minimum(d[:, None], d[None, :]),
    )
    np.fill_diagonal(fwd, d)
    bwd = _relative(
        ob,
        np.maximum(0.0, b[:, None] + b[None, :] - d[:, None] - d[None, :] + o),
        np.minimum(o, np.minimum(b[:, None], b[None, :])),
    )
    np.fill_diagonal(bwd, np.where(d > 0, b / np.maximum(d, 1e-12), 1.0))
    return np.clip(fwd, 0, 1), np.clip(bwd, 0, 1)


def check_feasible(overlaps, backward_overlaps, tol):
    """Raises ValueError naming the first infeasible pair of tasks.

    Args:
        overlaps: [N, N] absolute forward overlaps (diagonal: usages).
        backward_overlaps: [N, N] absolute backward overlaps (diagonal:
            backward usages).
        tol: Slack of every bound.
    """
    o, ob = np.asarray(overlaps), np.asarray(backward_overlaps)
    d, b = np.diag(o), np.diag(ob)
    for i in range(len(d)):
        if not 0 <= b[i] <= d[i] + tol <= 1 + 2 * tol:
            raise ValueError(
                f"Task {i}: backward usage {b[i]} must be within its "
                f"forward usage {d[i]} <= 1."
            )
        for j in range(i + 1, len(d)):
            lo, hi = max(0.0, d[i] + d[j] - 1.0), min(d[i], d[j])
            if not lo - tol <= o[i, j] <= hi + tol:
                raise ValueError(
                    f"Tasks {i}, {j}: forward overlap {o[i, j]} outside "
                    f"the feasible range [{lo:.3f}, {hi:.3f}]."
                )
            lo = max(0.0, b[i] + b[j] - d[i] - d[j] + o[i, j])
            hi = min(o[i, j], b[i], b[j])
            if not lo - tol <= ob[i, j] <= hi + tol:
                raise ValueError(
                    f"Tasks {i}, {j}: backward overlap {ob[i, j]} outside "
                    f"the feasible range [{lo:.3f}, {hi:.3f}]."
                )
