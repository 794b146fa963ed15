"""Families of task Jacobians J [K, D] (float64) for reference tests.

``jacobian_families(seed)`` yields ``(family, J)`` for every family and every
K in `NUM_TASKS`, D in `DIMS`:

* ``random``: i.i.d. standard normal rows.
* ``nearly_conflicting``: rows ``+-v`` (alternating sign, norms 1 to 3) plus
  noise of relative size 0.1: most pairs have cosine close to -1.
* ``ill_conditioned``: ``U diag(s) V^T`` with random orthonormal U, V and
  singular values spaced geometrically from 1 down to ``1 / condition``
  (condition 1e2, 1e4 or 1e6 by K), so cond(J) = 1e6 at most, cond(G) 1e12.
* ``low_rank``: rank ``max(1, min(K, D) // 2)``: several rows are linear
  combinations of the others (the Gramian is singular).
"""

import numpy as np

NUM_TASKS = (2, 3, 5, 9)
DIMS = (4, 16, 64)
FAMILIES = ("random", "nearly_conflicting", "ill_conditioned", "low_rank")
CONDITIONS = {2: 1e2, 3: 1e4, 5: 1e6, 9: 1e6}


def _orthonormal(rng, rows, cols):
    """A [rows, cols] matrix with orthonormal columns (rows >= cols)."""
    q, r = np.linalg.qr(rng.normal(size=(rows, cols)))
    return q * np.sign(np.diag(r))


def make_jacobian(family, k, d, rng):
    """One Jacobian [k, d] of ``family`` drawn from ``rng``."""
    if family == "random":
        return rng.normal(size=(k, d))
    if family == "nearly_conflicting":
        v = rng.normal(size=d)
        v /= np.linalg.norm(v)
        signs = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
        norms = rng.uniform(1.0, 3.0, size=k)
        noise = 0.1 * rng.normal(size=(k, d)) / np.sqrt(d)
        return (signs * norms)[:, None] * (v[None] + noise)
    if family == "ill_conditioned":
        rank = min(k, d)
        singular = np.geomspace(1.0, 1.0 / CONDITIONS[k], rank)
        u = _orthonormal(rng, k, rank)
        v = _orthonormal(rng, d, rank)
        return (u * singular) @ v.T
    if family == "low_rank":
        rank = max(1, min(k, d) // 2)
        return rng.normal(size=(k, rank)) @ rng.normal(size=(rank, d))
    raise ValueError(f"unknown family {family!r}")


def jacobian_families(seed, families=FAMILIES, num_tasks=NUM_TASKS, dims=DIMS):
    """Yields ``(family, J)`` with J float64 [K, D] for every family, K, D.

    Args:
        seed: int seed (the same seed always yields the same Jacobians).
        families: subset of `FAMILIES`.
        num_tasks: values of K.
        dims: values of D.
    """
    rng = np.random.default_rng(seed)
    for family in families:
        for k in num_tasks:
            for d in dims:
                yield family, make_jacobian(family, k, d, rng)
