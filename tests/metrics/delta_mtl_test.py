"""Tests for delta_mtl on a hand-worked example."""

import pytest

from tfmtl.metrics import delta_mtl

HIGHER = {
    "seg": {"miou": True, "pixel_acc": True},
    "depth": {"abs_err": False},
}


def test_hand_worked_example():
    results = {
        "seg": {"miou": 0.44, "pixel_acc": 0.70, "ignored": 1.0},
        "depth": {"abs_err": 0.50},
    }
    baselines = {
        "seg": {"miou": 0.40, "pixel_acc": 0.70},
        "depth": {"abs_err": 0.40},
    }
    delta, per_task = delta_mtl(results, baselines, HIGHER)
    # seg:   miou  +(0.44 - 0.40) / 0.40 * 100 = +10
    #        pixel_acc +(0.70 - 0.70) / 0.70 * 100 = 0
    #        Δ_seg = (10 + 0) / 2 = 5
    # depth: abs_err lower is better: -(0.50 - 0.40) / 0.40 * 100 = -25
    #        Δ_depth = -25
    # Δ_MTL = (5 + (-25)) / 2 = -10  ("ignored" has no baseline: not used)
    assert per_task == pytest.approx({"seg": 5.0, "depth": -25.0})
    assert delta == pytest.approx(-10.0)


def test_positive_means_multi_task_is_better():
    baselines = {"seg": {"miou": 0.5}, "depth": {"abs_err": 0.5}}
    better = {"seg": {"miou": 0.6}, "depth": {"abs_err": 0.4}}
    delta, per_task = delta_mtl(better, baselines, HIGHER)
    # +20 for mIoU (higher), +20 for abs_err (lower) -> +20.
    assert per_task == pytest.approx({"seg": 20.0, "depth": 20.0})
    assert delta == pytest.approx(20.0)
    assert delta_mtl(baselines, baselines, HIGHER)[0] == 0.0


def test_errors():
    baselines = {"depth": {"abs_err": 0.5}}
    with pytest.raises(ValueError, match="results lack"):
        delta_mtl({"depth": {}}, baselines, HIGHER)
    with pytest.raises(ValueError, match="higher_is_better"):
        delta_mtl({"depth": {"abs_err": 1.0}}, baselines, {})
    with pytest.raises(ValueError, match="is 0"):
        delta_mtl(
            {"depth": {"abs_err": 1.0}}, {"depth": {"abs_err": 0.0}}, HIGHER
        )
    with pytest.raises(ValueError):
        delta_mtl({}, {}, HIGHER)
