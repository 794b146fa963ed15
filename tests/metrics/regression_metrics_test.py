"""Tests for RegressionMetrics against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics import RegressionMetrics, accumulate


def test_matches_numpy_and_two_batches_sum_to_one():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(5, 3, 3, 2)).astype(np.float32)
    preds = rng.normal(size=(5, 3, 3, 2)).astype(np.float32)
    metric = RegressionMetrics()
    fn = tf.function(
        metric.statistics,
        input_signature=[tf.TensorSpec([None, 3, 3, 2], tf.float32)] * 2,
    )
    totals = {}
    accumulate(totals, fn(labels[:2], preds[:2]))
    accumulate(totals, fn(labels[2:], preds[2:]))
    full = accumulate({}, fn(labels, preds))
    assert int(totals["count"]) == int(full["count"]) == labels.size
    diff = preds.astype(np.float64) - labels
    expected = {"abs_err": np.abs(diff).mean(), "mse": np.square(diff).mean()}
    assert metric.result(totals) == pytest.approx(expected, rel=1e-5)
    assert metric.result(full) == pytest.approx(expected, rel=1e-5)


def test_hand_worked_and_bf16():
    labels = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    preds = tf.constant([[1.0, 3.0], [1.0, 4.0]], tf.bfloat16)
    metric = RegressionMetrics()
    result = metric.result(accumulate({}, metric.statistics(labels, preds)))
    # errors 0, 1, -2, 0 -> abs 3 / 4, squared 5 / 4.
    assert result == pytest.approx({"abs_err": 0.75, "mse": 1.25})
    assert metric.higher_is_better == {"abs_err": False, "mse": False}


def test_ignore_value_pools_valid_elements_like_the_reference():
    """float64 numpy of AdaShare's Taskonomy keypoint / edge abs_err.

    `get_keypoint_metrics` / `get_edge_metrics` of `envs/base_env.py` in
    github.com/sunxm2357/AdaShare: mean |p - g| over the pixels whose label
    is not 255, pooled over the set.
    """
    rng = np.random.default_rng(1)
    labels = rng.uniform(-1, 1, size=(4, 5, 6, 1)).astype(np.float32)
    labels[0, 3:] = 255.0
    labels[1, :, :2] = 255.0
    labels[2] = 255.0  # one example is all padding
    preds = rng.uniform(-1, 1, size=labels.shape).astype(np.float32)
    preds[2, 0, 0, 0] = np.inf  # wild output on a padded pixel
    metric = RegressionMetrics(ignore_value=255)
    totals = {}
    for lo, hi in ((0, 1), (1, 3), (3, 4)):
        accumulate(totals, metric.statistics(labels[lo:hi], preds[lo:hi]))
    valid = labels != 255.0
    diff = (preds.astype(np.float64) - labels)[valid]
    assert int(totals["count"]) == int(valid.sum())
    assert metric.result(totals) == pytest.approx(
        {"abs_err": np.abs(diff).mean(), "mse": np.square(diff).mean()},
        rel=1e-5,
    )
    # An all-padding set scores 0, not NaN.
    empty = accumulate({}, metric.statistics(labels[2:3], preds[2:3]))
    assert metric.result(empty) == {"abs_err": 0.0, "mse": 0.0}
