"""Tests for DepthMetrics against numpy hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics import DepthMetrics, accumulate


def _traced(metric, dtype=tf.float32):
    return tf.function(
        metric.statistics,
        input_signature=[
            tf.TensorSpec([None, 4, 4, 1], tf.float32),
            tf.TensorSpec([None, 4, 4, 1], dtype),
        ],
    )


def _numpy_reference(labels, preds):
    valid = labels > 0
    g, p = labels[valid].astype(np.float64), preds[valid].astype(np.float64)
    ratio = np.maximum(p / g, g / p)
    result = {
        "abs_err": np.abs(p - g).mean(),
        "rel_err": (np.abs(p - g) / g).mean(),
    }
    for k in (1, 2, 3):
        result[f"delta{k}"] = np.mean(ratio < 1.25**k)
    return result


def _data(seed, batch=3):
    rng = np.random.default_rng(seed)
    labels = rng.uniform(0.5, 5, size=(batch, 4, 4, 1)).astype(np.float32)
    labels[rng.random(labels.shape) < 0.3] = 0.0  # invalid pixels
    preds = labels * rng.uniform(0.5, 2.0, size=labels.shape)
    preds[labels == 0] = 100.0  # wildly wrong, must not matter
    return labels, preds.astype(np.float32)


def test_matches_numpy_and_excludes_invalid_pixels():
    labels, preds = _data(0)
    metric = DepthMetrics()
    result = metric.result(accumulate({}, _traced(metric)(labels, preds)))
    expected = _numpy_reference(labels, preds)
    assert result == pytest.approx(expected, rel=1e-5)
    assert 0 < result["delta1"] < result["delta2"] <= result["delta3"] <= 1


def test_hand_worked_values():
    # Valid pixels (g, p): (1, 1.2), (2, 1), (4, 6); the fourth is invalid.
    labels = np.array([1.0, 2.0, 4.0, 0.0], np.float32).reshape(1, 2, 2, 1)
    preds = np.array([1.2, 1.0, 6.0, 9.0], np.float32).reshape(1, 2, 2, 1)
    metric = DepthMetrics()
    result = metric.result(accumulate({}, metric.statistics(labels, preds)))
    # |p - g| = 0.2, 1, 2 -> abs 3.2 / 3; relative 0.2, 0.5, 0.5 -> 1.2 / 3.
    # ratios 1.2, 2, 1.5: < 1.25 -> 1; < 1.5625 -> 2; < 1.953 -> 2.
    assert result["abs_err"] == pytest.approx(3.2 / 3)
    assert result["rel_err"] == pytest.approx(1.2 / 3)
    assert result["delta1"] == pytest.approx(1 / 3)
    assert result["delta2"] == pytest.approx(2 / 3)
    assert result["delta3"] == pytest.approx(2 / 3)


def test_two_batches_sum_to_one_batch():
    labels, preds = _data(1, batch=5)
    metric = DepthMetrics()
    fn = _traced(metric)
    totals = {}
    accumulate(totals, fn(labels[:2], preds[:2]))
    accumulate(totals, fn(labels[2:], preds[2:]))
    full = accumulate({}, fn(labels, preds))
    for name in full:
        np.testing.assert_allclose(totals[name], full[name], rtol=1e-6)
    assert metric.result(totals) == pytest.approx(metric.result(full))


def test_non_positive_predictions_never_within_threshold():
    labels = np.ones((1, 1, 3, 1), np.float32)
    preds = np.array([-1.0, 0.0, 1.0], np.float32).reshape(1, 1, 3, 1)
    metric = DepthMetrics()
    result = metric.result(accumulate({}, metric.statistics(labels, preds)))
    assert result["delta3"] == pytest.approx(1 / 3)
    assert result["abs_err"] == pytest.approx(3 / 3)


def test_bf16_predictions_and_empty_set():
    labels, preds = _data(2)
    metric = DepthMetrics()
    bf16 = tf.cast(preds, tf.bfloat16)
    result = metric.result(
        accumulate({}, _traced(metric, tf.bfloat16)(labels, bf16))
    )
    expected = _numpy_reference(labels, tf.cast(bf16, tf.float32).numpy())
    assert result == pytest.approx(expected, rel=1e-5)
    empty = np.zeros((1, 4, 4, 1), np.float32)
    assert set(
        metric.result(
            accumulate({}, metric.statistics(empty, preds[:1]))
        ).values()
    ) == {0.0}
