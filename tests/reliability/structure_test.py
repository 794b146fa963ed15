"""Issue #17 item 1: checkpoints that cannot silently misload.

Resuming training with another task list (or order) is refused with the
stored and requested structures side by side; `evaluate` restores by
variable name, so a reordered task list reads the right heads.
"""

import numpy as np
import pytest

from tfmtl.testing import tiny_problem
from tfmtl.trainers import run_structure

TASKS = ("segmentation", "depth", "attr_a0")


def _problem(tasks):
    return tiny_problem(tasks=tasks)


@pytest.fixture
def trained(tmp_path, make_run):
    run = make_run(tmp_path, problem=_problem(TASKS))
    run.train(2)
    return run


def test_resume_with_reordered_tasks_is_refused_side_by_side(
    tmp_path, make_run, trained
):
    reordered = make_run(tmp_path, problem=_problem(TASKS[::-1]))
    with pytest.raises(ValueError) as error:
        reordered.train(4)
    text = str(error.value)
    assert "Refusing to resume" in text and "\n" not in text
    assert (
        "tasks: stored [segmentation (segmentation), depth (depth), "
        "attr_a0 (binary)] vs requested [attr_a0 (binary), depth (depth), "
        "segmentation (segmentation)]"
    ) in text
    assert reordered.step == 0  # nothing restored, nothing trained


def test_resume_with_fewer_tasks_is_refused(tmp_path, make_run, trained):
    fewer = make_run(tmp_path, problem=_problem(TASKS[:2]))
    with pytest.raises(ValueError, match="Refusing to resume .*tasks: stored"):
        fewer.train(4)
    with pytest.raises(ValueError, match="Refusing to restore"):
        fewer.restore()


def test_evaluate_with_reordered_tasks_reads_the_right_heads(
    tmp_path, make_run, trained
):
    expected = trained.evaluate(steps=1)
    reordered = make_run(tmp_path, problem=_problem(TASKS[::-1]))
    results = reordered.evaluate(steps=1)
    assert reordered.step == 2
    for task in TASKS:
        a = trained.model.heads[task].weights
        b = reordered.model.heads[task].weights
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.array(x), np.array(y))
        np.testing.assert_allclose(
            results[f"loss/{task}"], expected[f"loss/{task}"], rtol=1e-5
        )


def test_differences_name_backbone_and_sharing():
    stored = {
        "tasks": ["a (binary)"],
        "sharing": "HardSharing",
        "backbone": "ResNet",
    }
    requested = dict(stored, backbone="VGG", sharing="CrossStitch")
    assert run_structure.differences(stored, requested) == [
        "sharing: stored HardSharing vs requested CrossStitch",
        "backbone: stored ResNet vs requested VGG",
    ]
    assert run_structure.differences(stored, stored) == []
