"""Tests for NormalsMetrics against numpy (median within one bin width)."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics import NormalsMetrics, accumulate


def _traced(metric, dtype=tf.float32):
    return tf.function(
        metric.statistics,
        input_signature=[
            tf.TensorSpec([None, 6, 6, 3], tf.float32),
            tf.TensorSpec([None, 6, 6, 3], dtype),
        ],
    )


def _data(seed, batch=3, noise=0.4):
    rng = np.random.default_rng(seed)
    labels = rng.normal(size=(batch, 6, 6, 3))
    labels /= np.linalg.norm(labels, axis=-1, keepdims=True)
    preds = (labels + noise * rng.normal(size=labels.shape)) * 3.0
    labels[rng.random(labels.shape[:-1]) < 0.25] = 0.0  # invalid pixels
    return labels.astype(np.float32), preds.astype(np.float32)


def _numpy_angles(labels, preds):
    labels = labels.astype(np.float64)
    preds = preds.astype(np.float64)
    valid = np.any(labels != 0, axis=-1)
    unit = preds / np.linalg.norm(preds, axis=-1, keepdims=True)
    cos = np.clip((unit * labels).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos))[valid]


def _expected(angles):
    return {
        "mean_angle": angles.mean(),
        "median_angle": np.median(angles),
        "within_11.25": 100 * np.mean(angles < 11.25),
        "within_22.5": 100 * np.mean(angles < 22.5),
        "within_30": 100 * np.mean(angles < 30),
    }


@pytest.mark.parametrize("num_bins", [18000, 180])
def test_matches_numpy_median_within_bin_width(num_bins):
    labels, preds = _data(0)
    metric = NormalsMetrics(num_bins=num_bins)
    stats = _traced(metric)(labels, preds)
    result = metric.result(accumulate({}, stats))
    expected = _expected(_numpy_angles(labels, preds))
    assert metric.bin_width == pytest.approx(180.0 / num_bins)
    assert abs(result["median_angle"] - expected["median_angle"]) <= (
        metric.bin_width + 1e-4
    )
    for key in ("mean_angle", "within_11.25", "within_22.5", "within_30"):
        assert result[key] == pytest.approx(expected[key], rel=1e-4), key


def test_median_of_even_count_with_far_apart_middle_values():
    # Angles 10 and 50 degrees: numpy's median averages them to 30.
    labels = np.tile([0.0, 0.0, 1.0], (1, 1, 2, 1)).astype(np.float32)
    rad = np.radians([10.0, 50.0])
    preds = np.stack([np.sin(rad), np.zeros(2), np.cos(rad)], -1)[None, None]
    metric = NormalsMetrics()
    result = metric.result(
        accumulate({}, metric.statistics(labels, preds.astype(np.float32)))
    )
    assert result["median_angle"] == pytest.approx(30.0, abs=0.01)
    assert result["mean_angle"] == pytest.approx(30.0, abs=1e-4)
    assert result["within_11.25"] == pytest.approx(50.0)
    assert result["within_30"] == pytest.approx(50.0)


def test_small_angles_are_accurate():
    # arccos in float32 cannot resolve 0.005 degrees; atan2 can.
    labels = np.array([[[[0.0, 0.0, 1.0]]]], np.float32)
    rad = np.radians(0.005)
    preds = np.array([[[[np.sin(rad), 0.0, np.cos(rad)]]]], np.float32)
    metric = NormalsMetrics()
    result = metric.result(accumulate({}, metric.statistics(labels, preds)))
    assert result["mean_angle"] == pytest.approx(0.005, rel=1e-3)
    assert result["median_angle"] == pytest.approx(0.005, abs=0.01)


def test_two_batches_sum_to_one_batch():
    labels, preds = _data(1, batch=4)
    metric = NormalsMetrics()
    fn = _traced(metric)
    totals = {}
    accumulate(totals, fn(labels[:3], preds[:3]))
    accumulate(totals, fn(labels[3:], preds[3:]))
    full = accumulate({}, fn(labels, preds))
    for name in full:
        np.testing.assert_allclose(totals[name], full[name], rtol=1e-6)
    assert metric.result(totals) == pytest.approx(metric.result(full))
    assert int(full["histogram"].sum()) == int(full["count"])
    assert int(full["count"]) == int(np.any(labels != 0, axis=-1).sum())


def test_bf16_predictions_and_empty_set():
    labels, preds = _data(2)
    metric = NormalsMetrics()
    bf16 = tf.cast(preds, tf.bfloat16)
    result = metric.result(
        accumulate({}, _traced(metric, tf.bfloat16)(labels, bf16))
    )
    angles = _numpy_angles(labels, tf.cast(bf16, tf.float32).numpy())
    assert result["mean_angle"] == pytest.approx(angles.mean(), rel=1e-4)
    empty = np.zeros((1, 6, 6, 3), np.float32)
    result = metric.result(accumulate({}, metric.statistics(empty, preds[:1])))
    assert set(result.values()) == {0.0}
