"""ExportBest: which evaluation it keeps, ties, and the `{task}` key."""

import types

import numpy as np
import pytest

from tfmtl.trainers.actions import ExportBest


class FakeCheckpoints:
    best_dir = "best"

    def __init__(self):
        self.saved = []

    def save_best(self, step, metrics):
        self.saved.append((step, metrics))
        return f"best/ckpt-{step}"


def _context(*task_names):
    tasks = [types.SimpleNamespace(name=n) for n in task_names]
    return types.SimpleNamespace(tasks=tasks, checkpoints=FakeCheckpoints())


def _run(action, values, key="metric/real/error", tasks=("real",)):
    context = _context(*tasks)
    for step, value in enumerate(values, start=1):
        action(step, {key: value}, context)
    return [step for step, _ in context.checkpoints.saved]


def test_ties_earlier_keeps_the_first_of_equal_values():
    action = ExportBest("metric/real/error")
    assert _run(action, [0.5, 0.4, 0.4, 0.6, np.nan]) == [1, 2]


def test_ties_later_is_the_taps_reference_rule():
    # TAPS train_sequential.py::main saves model_best.pth whenever
    # `val_err <= best`: a tie moves the best to the later epoch.
    action = ExportBest("metric/{task}/error", ties="later")
    assert _run(action, [0.5, 0.4, 0.4, 0.6, np.nan, 0.4]) == [1, 2, 3, 6]


def test_max_mode_and_task_placeholder():
    action = ExportBest("metric/{task}/accuracy", mode="max", ties="later")
    assert _run(action, [0.1, 0.3, 0.2], "metric/real/accuracy") == [1, 2]
    with pytest.raises(ValueError, match="has 2 tasks"):
        _run(ExportBest("metric/{task}/error"), [0.1], tasks=("a", "b"))
    with pytest.raises(ValueError, match="ties"):
        ExportBest(ties="last")
    with pytest.raises(ValueError, match="mode"):
        ExportBest(mode="lowest")
