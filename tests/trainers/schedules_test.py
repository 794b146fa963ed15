"""Schedules: deterministic, hashable plans."""

import collections

import pytest

from tfmtl.trainers.schedules import Alternating, Joint, Plan, SampledTask


def test_joint_binds_the_run_tasks():
    schedule = Joint().bind(("a", "b"))
    assert schedule(0) == schedule(99) == Plan(("a", "b"))
    assert schedule.plans() == (Plan(("a", "b")),)


def test_alternating_cycles_phases():
    w = Plan(("a",), ("weights",), "train1")
    arch = Plan(("a",), ("arch",), "train2")
    schedule = Alternating([(w, 2), (arch, 1)])
    assert [schedule(s) for s in range(6)] == [w, w, arch, w, w, arch]
    assert schedule.plans() == (w, arch)
    with pytest.raises(ValueError):
        Alternating([(w, 0)])


def test_sampled_task_is_a_pure_function_of_seed_and_step():
    schedule = SampledTask(probabilities=[0.7, 0.2, 0.1], seed=5).bind(
        ("a", "b", "c")
    )
    again = SampledTask(probabilities=[0.7, 0.2, 0.1], seed=5).bind(
        ("a", "b", "c")
    )
    draws = [schedule(s).tasks[0] for s in range(3000)]
    assert draws == [again(s).tasks[0] for s in range(3000)]
    counts = collections.Counter(draws)
    assert abs(counts["a"] / 3000 - 0.7) < 0.03
    assert abs(counts["c"] / 3000 - 0.1) < 0.02
    other = SampledTask(seed=6).bind(("a", "b", "c"))
    assert draws[:50] != [other(s).tasks[0] for s in range(50)]


def test_plans_are_hashable():
    assert len({Plan(("a",)), Plan(("a",)), Plan(("b",))}) == 2
