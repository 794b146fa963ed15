"""Tests for TAG network selection (tfmtl.methods.tag.network_selection)."""

import itertools

import numpy as np
import pytest

from tests.methods.tag.published_groupings import PUBLISHED, celeba_groups
from tests.methods.tag.published_matrices import (
    CELEBA,
    CELEBA_TAG,
    TASKONOMY,
    TASKONOMY_TAG,
)
from tfmtl.methods.tag import network_selection as ns


def test_reproduces_published_groupings():
    for matrix, tasks, method, budget, groups, score, decimals in PUBLISHED:
        case = f"{method} {tasks[0]}... budget {budget}"
        selection = ns.select_groups(matrix, budget, tasks=tasks, method=method)
        assert {frozenset(g) for g in selection.groups} == groups, case
        if score is not None:
            tolerance = 0.5 * 10**-decimals
            assert selection.score == pytest.approx(score, abs=tolerance), case


def test_transposed_celeba_matrix_changes_the_grouping():
    """Orientation matters: the transpose gives tag.md's other B=2 answer."""
    selection = ns.select_groups(np.transpose(CELEBA_TAG), 2, tasks=CELEBA)
    assert {frozenset(g) for g in selection.groups} == celeba_groups(
        "5oCS Goatee Mustache NoBeard Rosy",
        "5oCS Black Blond Brown Goatee Mustache Rosy Hat",
    )


def _score_by_hand(a, group, task, method):
    others = [b for b in group if b != task]
    if not others:
        return a[task][task] if method == "hoa" else -1e6
    return sum(a[task][b] for b in others) / len(others)


def test_score_of_a_grouping_by_hand():
    a = [[9.0, 1.0, -2.0], [4.0, 9.0, 0.5], [3.0, -1.0, 9.0]]
    selection = ns.score_groups(
        a, [("x", "y", "z"), ("x", "y")], tasks=("x", "y", "z")
    )
    # x: max((1 - 2) / 2, 1) = 1 in {x, y}; y: max((4 + .5) / 2, 4) = 4 in
    # {x, y}; z: (3 - 1) / 2 = 1, only in {x, y, z}. Rows are the target.
    assert selection.task_scores == {"x": 1.0, "y": 4.0, "z": 1.0}
    assert selection.serving == {
        "x": ("x", "y"),
        "y": ("x", "y"),
        "z": ("x", "y", "z"),
    }
    assert selection.score == pytest.approx(2.0)
    hoa = ns.score_groups(a, [("x",), ("y", "z")], method="hoa", tasks="xyz")
    assert hoa.task_scores == {"x": 9.0, "y": 0.5, "z": -1.0}
    assert hoa.score == pytest.approx(8.5 / 3)
    tag = ns.score_groups(a, [("x",), ("y", "z")], tasks="xyz")
    assert tag.task_scores["x"] == -1e6  # TAG never serves a task alone.


def _exhaustive_by_partitions(a, budget, method):
    """Independent optimum: best partition into served blocks.

    Every selection serves a partition of the tasks (block = tasks a group
    serves) and each block may use its best superset group, so the optimum
    equals max over partitions into <= budget blocks of the block bests.
    """
    n = len(a)
    sign = -1.0 if method == "hoa" else 1.0
    block = {}
    for size in range(1, n + 1):
        for t in itertools.combinations(range(n), size):
            rest = [b for b in range(n) if b not in t]
            best = -np.inf
            for extra in range(len(rest) + 1):
                for add in itertools.combinations(rest, extra):
                    g = t + add
                    v = sum(sign * _score_by_hand(a, g, x, method) for x in t)
                    best = max(best, v)
            block[frozenset(t)] = best

    def partitions(items, k):
        if not items:
            yield []
            return
        if k == 0:
            return
        first, rest = items[0], items[1:]
        for size in range(len(rest) + 1):
            for others in itertools.combinations(rest, size):
                left = [x for x in rest if x not in others]
                for p in partitions(left, k - 1):
                    yield [frozenset((first, *others)), *p]

    best = max(
        sum(block[b] for b in p) for p in partitions(list(range(n)), budget)
    )
    return sign * best / n


def test_nine_tasks_budget_four_is_optimal():
    a = np.random.default_rng(9).normal(size=(9, 9)).round(1).tolist()
    for method in ("tag", "hoa"):
        selection = ns.select_groups(a, 4, method=method)
        assert len(selection.groups) <= 4
        assert set().union(*selection.groups) == set(range(9))
        assert selection == ns.score_groups(a, selection.groups, method=method)
        expected = _exhaustive_by_partitions(a, 4, method)
        assert selection.score == pytest.approx(expected, rel=1e-12)


def _random_cases():
    rng = np.random.default_rng(2021)
    cases = []
    for i in range(24):
        n = 4 + i % 4
        budget = 1 + (i // 4) % 4
        if n == 7:
            budget = min(budget, 3)  # Brute force: C(127, 3) sets at most.
        if i % 3 == 0:  # Small integers: many exact ties.
            a = rng.integers(-2, 3, size=(n, n)).astype(float)
        elif i % 3 == 1:
            a = rng.normal(size=(n, n))
        else:  # Values whose means round differently in different orders.
            a = rng.choice([0.0, 0.1, 1 / 3, 0.7], size=(n, n))
        cases.append((a, budget, ("tag", "cs", "hoa")[i % 3]))
    return cases


def test_branch_and_bound_equals_brute_force():
    for i, (a, budget, method) in enumerate(_random_cases()):
        fast = ns.select_groups(a, budget, method=method)
        slow = ns.brute_force_select(a, budget, method=method)
        # Groups, score, serving and tie-breaking all identical.
        assert fast == slow, f"case {i}: n={len(a)} {budget=} {method}"


def test_ties_prefer_fewer_groups():
    # Every selection of an all-equal matrix ties: one group wins.
    equal = np.ones((5, 5))
    for method in ("tag", "hoa"):
        selection = ns.select_groups(equal, 4, method=method)
        assert selection.groups == ((0, 1, 2, 3, 4),)


def test_task_names_and_dict_input():
    d = {
        t: dict(zip(TASKONOMY, row)) for t, row in zip(TASKONOMY, TASKONOMY_TAG)
    }
    from_dict = ns.select_groups(d, 3)
    from_matrix = ns.select_groups(TASKONOMY_TAG, 3, tasks=TASKONOMY)
    assert from_dict == from_matrix
    assert from_dict.serving["n"] == ("d", "n")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"affinity": np.zeros((2, 3)), "budget": 1}, "square"),
        ({"affinity": [[0, np.nan], [0, 0]], "budget": 1}, "NaN"),
        ({"affinity": np.zeros((3, 3)), "budget": 0}, "budget"),
        ({"affinity": np.zeros((3, 3)), "budget": 4}, "budget"),
        (
            {"affinity": np.zeros((2, 2)), "budget": 1, "tasks": "aa"},
            "distinct",
        ),
        ({"affinity": np.zeros((2, 2)), "budget": 1, "method": "x"}, "method"),
    ],
)
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ns.select_groups(**kwargs)


def test_random_groups_is_seeded_and_covers_every_task():
    tasks = CELEBA
    first = ns.random_groups(tasks, 4, seed=7)
    assert first == ns.random_groups(tasks, 4, seed=7)
    assert len(first) == 4 and all(first)
    assert sorted(t for g in first for t in g) == sorted(tasks)  # Disjoint.
    draws = {ns.random_groups(tasks, 4, seed=s) for s in range(20)}
    assert len(draws) > 1
    with pytest.raises(ValueError, match="budget"):
        ns.random_groups(tasks, 10)


def test_random_groups_is_uniform_over_partitions():
    # {a,b,c} into 2 groups: 3 partitions, each with probability 1/3.
    counts = {}
    for seed in range(3000):
        g = ns.random_groups("abc", 2, seed=seed)
        counts[g] = counts.get(g, 0) + 1
    assert len(counts) == 3
    assert all(abs(c - 1000) < 120 for c in counts.values())  # ~4.5 sigma.
