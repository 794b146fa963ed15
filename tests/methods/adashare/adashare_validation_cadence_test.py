"""AdaShare's policy learning validates when the reference's train.py does."""

import os
import types

import gin
import pytest

from tfmtl.methods.adashare import AdaShareEvaluate, AdaShareSchedule

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def reference_evaluations(
    warm_up_iters, weight_iters, alpha_iters, val_freq, total_iters
):
    """Where sunxm2357/AdaShare `train.py::train` calls `eval(...)`.

    A transcription of its loop counters: during the warm-up
    (`current_iter < warm_up_iters`) it validates when
    `should(current_iter, val_freq)`; afterwards when
    `should(current_iter_w, weight_iter_alternate)`, i.e. after the last
    weight step of every phase, then switches to the policy steps.

    Returns:
        `[("warmup", current_iter) or ("weight", current_iter_w)]`.
    """
    evals, flag = [], "update_w"
    current_iter = current_iter_w = current_iter_a = 0
    while current_iter < total_iters:
        current_iter += 1
        if current_iter < warm_up_iters:
            if current_iter % val_freq == 0:
                evals.append(("warmup", current_iter))
        elif flag == "update_w":
            current_iter_w += 1
            if current_iter_w % weight_iters == 0:
                flag = "update_alpha"
                evals.append(("weight", current_iter_w))
        else:
            current_iter_a += 1
            if current_iter_a % alpha_iters == 0:
                flag = "update_w"
    return evals


def _ours(warmup, weight, policy, val_freq, total):
    schedule = AdaShareSchedule(warmup, weight, policy).bind(("a", "b"))
    action = AdaShareEvaluate(schedule, steps=11, warmup_every=val_freq)
    evals = []
    for step in range(1, total + 1):
        if not action.due(step):
            continue
        if step < warmup:
            evals.append(("warmup", step))
            continue
        # Weight steps read "train1", policy steps "train2".
        done = sum(schedule(s).data == "train1" for s in range(step))
        # The step after a validation is a policy step.
        assert schedule(step).data == "train2", step
        evals.append(("weight", done))
    return evals


@pytest.mark.parametrize(
    "warmup, weight, policy, val_freq, total",
    [(8, 3, 2, 3, 40), (20, 4, 1, 5, 61), (4000, 25, 25, 400, 20000)],
)
def test_validates_at_the_end_of_every_weight_phase(
    warmup, weight, policy, val_freq, total
):
    ours = _ours(warmup, weight, policy, val_freq, total)
    # The reference's warm-up has warm_up_iters - 1 iterations (its loop
    # tests `current_iter < warm_up_iters` after the increment), ours
    # WARMUP_STEPS: its iteration k is our step k + 1.
    reference = reference_evaluations(
        warmup, weight, policy, val_freq, total - 1
    )
    assert ours == reference
    if warmup == 4000:  # NYUv2 2-task: 9 warm-up and 320 policy-phase ones.
        assert len(ours) == 9 + 320


def test_evaluates_through_the_run_context_with_its_batches():
    schedule = AdaShareSchedule(4, 2, 2)
    calls = []
    context = types.SimpleNamespace(evaluate=calls.append)
    action = AdaShareEvaluate(schedule, steps=11)
    for step in range(1, 15):
        action(step, {}, context)
    # Steps 6, 10, 14: after 2, 4, 6 weight steps; none in the warm-up.
    assert calls == [11, 11, 11]
    with pytest.raises(ValueError, match="warmup_every"):
        AdaShareEvaluate(schedule, warmup_every=0)


@pytest.mark.parametrize(
    "name, val_freq",
    [
        ("nyu_v2_2task", 400),
        ("cityscapes_2task", 400),
        ("taskonomy_5task", 1000),
    ],
)
def test_benchmark_configs_validate_by_phase_not_by_step(name, val_freq):
    """The yamls' `val_freq` drives the warm-up validation only; no
    EVAL_EVERY evaluation runs besides the weight-phase ones."""
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, f"gin_configs/adashare/{name}.gin")],
            ["DATA_DIR = '/nowhere'", "MODEL_DIR = '/nowhere'"],
        )
        assert gin.query_parameter("%EVAL_EVERY") is None
        assert gin.query_parameter("%WARMUP_EVAL_EVERY") == val_freq
        actions = gin.query_parameter("%ACTIONS")
        names = [a.configurable.name for a in actions]
        assert names.index("AdaShareEvaluate") < names.index("SaveBestPolicy")
    finally:
        gin.clear_config()
