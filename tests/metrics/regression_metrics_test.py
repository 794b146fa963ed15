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
