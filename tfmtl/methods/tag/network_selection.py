"""Network selection: the best possibly-overlapping task groups for a budget.

The selection step of TAG (Fifty et al. 2021, arXiv 2109.04617), checked
against google-research `tag/network_selection/{TAG,HOA}_network_selection`.
Plain numpy.

Scoring. `A[a][b]` is oriented `A[target][source]`. A group `G` gives each
member `a` the score

    s(a | G) = mean of A[a][b] over b in G, b != a     (|G| >= 2)
    s(a | {a}) = -1e6 for TAG and CS (a task never serves alone; the training
                 diagonal is biased), A[a][a] for HOA (the task trained alone).

A selection is at most `budget` groups covering every task. Each task is
*served* by its best-scoring group among those that contain it (other groups
only use it as a helper); the selection's score is the mean over tasks of the
served scores. TAG and CS maximise it (affinity onto each task); HOA minimises
it (`A` holds validation errors or losses; task `a` trained with `b`).

Search. Exact branch and bound over sets of candidate groups (all 2^n - 1
subsets, ordered as sorted tuples of task indices, compared lexicographically);
`brute_force_select` enumerates the same sets without pruning. Ties go to
the fewest groups, then the lexicographically first list of groups. With
`S(a)` the maximise-oriented score table and `cur[a]` the best score of task
`a` so far (-inf if uncovered), a node that may still add `r` groups from the
candidates after index `j` is pruned by two bounds, each >= every completion:

* per task: sum_a max(cur[a], max_{g > j, a in g} S(a | g)), summed in the
  same order as the objective, so it holds exactly in floating point;
* relaxation: max over K in covered(cur) of sum_{a in K} cur[a] + F_r(rest),
  where F_r(M) is the best way to serve the tasks in M with at most r
  further groups, each task by one of them (a partition dynamic program that
  ignores which candidates are still allowed). It holds up to rounding, which
  a slack of 4 n eps sum_a max|S(a)| covers.

The dynamic program's own solution seeds the incumbent (its exact optimum in
all but near-tied cases), so most branches die at the root.
"""

import dataclasses
import itertools
from collections.abc import Mapping

import numpy as np

METHODS = ("tag", "cs", "hoa")
MAX_TASKS = 12
_SINGLETON = -1e6  # TAG/CS score of a task alone, as in the notebook.


@dataclasses.dataclass(frozen=True)
class Selection:
    """A set of task groups and which group serves each task.

    Attributes:
        groups: tuple of groups, each a tuple of task names (input order).
        score: mean served score (affinity for TAG/CS, error for HOA).
        serving: `{task: group}`, the group whose network predicts the task.
        task_scores: `{task: served score}`.
    """

    groups: tuple
    score: float
    serving: dict
    task_scores: dict


def _total(x):
    """Left-to-right sum over the last axis: the objective's exact order."""
    total = x[..., 0]
    for i in range(1, x.shape[-1]):
        total = total + x[..., i]
    return total


def _prepare(affinity, tasks, method):
    """Validates input; returns names, candidate groups, score table [m, n]."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(affinity, Mapping):
        tasks = tuple(affinity) if tasks is None else tasks
        affinity = [[affinity[t][s] for s in tasks] for t in tasks]
    a = np.asarray(affinity, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not a.size:
        raise ValueError(
            f"affinity must be a non-empty square matrix: {a.shape}"
        )
    n = a.shape[0]
    names = tuple(range(n)) if tasks is None else tuple(tasks)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"need {n} distinct task names, got {names}")
    if not np.all(np.isfinite(a)):
        raise ValueError("affinity matrix has NaN or infinite entries")
    if n > MAX_TASKS:
        raise ValueError(f"exact selection supports <= {MAX_TASKS} tasks")
    groups = sorted(
        c for k in range(1, n + 1) for c in itertools.combinations(range(n), k)
    )
    table = np.full((len(groups), n), -np.inf)
    for g, members in enumerate(groups):
        for t in members:
            others = [b for b in members if b != t]
            if others:
                table[g, t] = a[t, others].sum() / len(others)
            else:
                table[g, t] = a[t, t] if method == "hoa" else _SINGLETON
    if method == "hoa":  # Minimising error is maximising its negation.
        table = np.where(np.isfinite(table), -table, -np.inf)
    return names, groups, table


def _check_budget(budget, n):
    # compat: the notebooks accept any `splits`; more groups than tasks never
    # helps (an optimal selection needs one served task per group), so a
    # budget above n is rejected as a likely mistake.
    if not 1 <= budget <= n:
        raise ValueError(f"budget must be in [1, {n}] for {n} tasks: {budget}")


def _selection(names, groups, table, combo, method):
    best = table[list(combo)]
    served, per_task = best.argmax(axis=0), best.max(axis=0)
    sign = -1.0 if method == "hoa" else 1.0
    named = [tuple(names[t] for t in groups[g]) for g in combo]
    return Selection(
        groups=tuple(named),
        score=float(sign * _total(per_task) / len(names)),
        serving={t: named[served[i]] for i, t in enumerate(names)},
        task_scores={t: float(sign * per_task[i]) for i, t in enumerate(names)},
    )


def _relaxation(table, groups, n, budget):
    """F[r][M] (best service of tasks M by <= r groups) and an incumbent."""
    size, full = 1 << n, (1 << n) - 1
    memb = ((np.arange(size)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    subs = [np.flatnonzero((np.arange(size) & ~m) == 0) for m in range(size)]
    block, arg = np.full(size, -np.inf), np.zeros(size, dtype=np.int64)
    for g, members in enumerate(groups):
        sub = subs[sum(1 << t for t in members)]
        vals = memb[sub] @ np.where(np.isfinite(table[g]), table[g], 0.0)
        better = vals > block[sub]
        block[sub[better]], arg[sub[better]] = vals[better], g
    relax = [np.full(size, -np.inf)]
    relax[0][0] = 0.0
    choice = [None]
    for r in range(1, budget + 1):
        best, pick = relax[r - 1].copy(), np.zeros(size, dtype=np.int64)
        for m in range(1, size):
            sub = subs[m][(subs[m] & (m & -m)) != 0]  # blocks holding low bit
            vals = block[sub] + relax[r - 1][m ^ sub]
            i = int(np.argmax(vals))
            if vals[i] > best[m]:
                best[m], pick[m] = vals[i], sub[i]
        relax.append(best)
        choice.append(pick)
    combo, m, r = set(), full, budget
    while m:
        if choice[r][m]:
            combo.add(int(arg[choice[r][m]]))
            m ^= int(choice[r][m])
        r -= 1
    return relax, memb, subs, tuple(sorted(combo))


def _branch_and_bound(table, groups, n, budget):
    m, full = len(groups), (1 << n) - 1
    masks = np.array([sum(1 << t for t in g) for g in groups], dtype=np.int64)
    relax, memb, subs, seed = _relaxation(table, groups, n, budget)
    lower = _total(table[list(seed)].max(axis=0))
    scale = np.abs(np.where(np.isfinite(table), table, 0.0)).max(axis=0).sum()
    slack = 4.0 * n * np.finfo(np.float64).eps * scale
    suffix = np.full((m + 1, n), -np.inf)
    suffix[:m] = np.maximum.accumulate(table[::-1], axis=0)[::-1]
    best = [-np.inf, None]

    def visit(start, cur, covered, combo, r):
        if r == 1:  # Last group: score every candidate at once.
            vals = _total(np.maximum(cur, table[start:]))
            i = int(np.argmax(vals))
            if vals[i] > best[0]:
                best[:] = [vals[i], combo + (start + i,)]
            return
        for j in range(start, m - r + 1):
            new = np.maximum(cur, table[j])
            if _total(np.maximum(new, suffix[j + 1])) <= best[0]:
                continue
            cov = covered | int(masks[j])
            sub = subs[cov]
            known = memb[sub] @ np.where(np.isfinite(new), new, 0.0)
            bound = (known + relax[r - 1][full ^ sub]).max() + slack
            if bound < lower or bound <= best[0]:
                continue
            visit(j + 1, new, cov, combo + (j,), r - 1)

    # compat: the notebooks keep the first optimum of their depth-first order,
    # which may carry a group that serves no task (e.g. Taskonomy TAG, B=4).
    # Fewer groups win ties here, then the lexicographically first groups.
    for k in range(1, budget + 1):
        visit(0, np.full(n, -np.inf), 0, (), k)
    return best[1]


def select_groups(affinity, budget, *, tasks=None, method="tag"):
    """Exact best selection of at most `budget` groups (branch and bound).

    Args:
        affinity: `[n, n]` array `A[target][source]`, or a dict of dicts
            `{target: {source: value}}` (the notebooks' layout). For HOA,
            validation error or loss of the target trained with the source
            (convert accuracy to error, 100 - accuracy, as the notebook
            does).
        budget: maximum number of groups (networks), `1 <= budget <= n`.
        tasks: task names in matrix order (default: keys or `0..n-1`).
        method: `"tag"` or `"cs"` (maximise) or `"hoa"` (minimise).

    Returns:
        The `Selection`.
    """
    names, groups, table = _prepare(affinity, tasks, method)
    _check_budget(budget, len(names))
    combo = _branch_and_bound(table, groups, len(names), budget)
    return _selection(names, groups, table, combo, method)


def brute_force_select(affinity, budget, *, tasks=None, method="tag"):
    """`select_groups` by plain enumeration (for tests; small n only)."""
    names, groups, table = _prepare(affinity, tasks, method)
    _check_budget(budget, len(names))
    best = (-np.inf, None)
    for k in range(1, budget + 1):
        combos = itertools.combinations(range(len(groups)), k)
        while chunk := list(itertools.islice(combos, 1 << 16)):
            vals = _total(table[np.array(chunk)].max(axis=1))
            i = int(np.argmax(vals))
            if vals[i] > best[0]:
                best = (vals[i], chunk[i])
    return _selection(names, groups, table, best[1], method)


def score_groups(affinity, groups, *, tasks=None, method="tag"):
    """Scores a given grouping (each task served by its best group)."""
    names, candidates, table = _prepare(affinity, tasks, method)
    index = {g: i for i, g in enumerate(candidates)}
    position = {t: i for i, t in enumerate(names)}
    try:
        combo = [index[tuple(sorted(position[t] for t in g))] for g in groups]
    except (KeyError, TypeError) as e:
        raise ValueError(f"unknown task or empty group in {groups}") from e
    if not np.all(np.isfinite(table[combo].max(axis=0))):
        raise ValueError(f"groups {groups} do not cover every task")
    return _selection(names, candidates, table, sorted(set(combo)), method)


def random_groups(tasks, budget, seed=0):
    """RG baseline: a uniformly random partition into `budget` groups.

    The paper trains random groupings of the same budget; the released code
    has no sampler. Labels are drawn uniformly and redrawn until every group is
    used, which is uniform over partitions into exactly `budget` groups.

    Args:
        tasks: task names.
        budget: number of groups, `1 <= budget <= len(tasks)`.
        seed: random seed.

    Returns:
        Disjoint groups (tuples in task order) covering every task, ordered
        by their first task.
    """
    tasks = tuple(tasks)
    _check_budget(budget, len(tasks))
    rng = np.random.default_rng(seed)
    labels = rng.integers(budget, size=len(tasks))
    while len(np.unique(labels)) < budget:
        labels = rng.integers(budget, size=len(tasks))
    groups = [
        tuple(t for t, lab in zip(tasks, labels) if lab == k)
        for k in range(budget)
    ]
    return tuple(sorted(groups, key=lambda g: tasks.index(g[0])))
