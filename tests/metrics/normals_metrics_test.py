"""Tests for NormalsMetrics against numpy (median within one bin width).

The float64 numpy reference follows the normal evaluation of MTL-NAS
(`core/utils/metrics.py::compute_angle` and
`core/tasks.py::NormalTask.aggregate_metric`, github.com/bhpfelix/MTLNAS)
and NDDR-CNN (`ops/errors.py::normal_error` and `eval_multiple_tasks.py`,
github.com/ethanygao/NDDR-CNN): pixels whose raw label is 255 in all three
channels are dropped, the angle is `arccos(clip(cos, -1, 1))` in degrees,
and the scores are mean, median, `sqrt(mean(angle**2))` and the percentage
with `angle <= t` for t in 11.25, 22.5, 30, 45.
"""

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
        "rmse_angle": np.sqrt(np.mean(angles**2)),
        "within_11.25": 100 * np.mean(np.less_equal(angles, 11.25)),
        "within_22.5": 100 * np.mean(np.less_equal(angles, 22.5)),
        "within_30": 100 * np.mean(np.less_equal(angles, 30.0)),
        "within_45": 100 * np.mean(np.less_equal(angles, 45.0)),
    }


def _reference_raw(raw, preds):
    """MTL-NAS `compute_angle` on raw uint8 labels (255, 255, 255 = void)."""
    raw = raw.reshape(-1, 3).astype(np.float64)
    preds = preds.reshape(-1, 3).astype(np.float64)
    keep = (raw == 255).sum(axis=1) != 3
    raw, preds = raw[keep], preds[keep]
    cos = (raw * preds).sum(-1) / np.maximum(
        np.linalg.norm(raw, axis=-1) * np.linalg.norm(preds, axis=-1), 1e-8
    )
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


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
    assert set(result) == set(metric.higher_is_better) == set(expected)
    for key in expected:
        if key != "median_angle":
            assert result[key] == pytest.approx(expected[key], rel=1e-4), key


def test_reference_scores_of_raw_encoded_labels():
    # The references score the raw encoded label vector; angles are
    # scale-invariant, so the same vectors with the void pixels zeroed give
    # the references' numbers, including pixels with only one channel 255.
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=(2, 6, 6, 3))
    raw[rng.random(raw.shape[:-1]) < 0.2] = 255
    raw[0, 0, 0] = (255, 255, 17)  # valid for the references
    preds = rng.normal(size=raw.shape) + raw / 255.0
    void = (raw == 255).all(axis=-1, keepdims=True)
    labels = np.where(void, 0.0, raw / 255.0).astype(np.float32)
    metric = NormalsMetrics()
    result = metric.result(
        accumulate({}, metric.statistics(labels, preds.astype(np.float32)))
    )
    angles = _reference_raw(raw, preds.astype(np.float32))
    assert int(void.sum()) > 0 and len(angles) == int((~void).sum())
    expected = _expected(angles)
    for key, value in expected.items():
        tolerance = metric.bin_width if key == "median_angle" else 1e-3
        assert abs(result[key] - value) <= tolerance, key


def test_thresholds_include_the_boundary_and_rmse_is_quadratic():
    # atan2(1, 1) is exactly 45 degrees in float32: the references count it
    # (np.less_equal). Angles 0 and 45: RMSE sqrt(45**2 / 2), mean 22.5.
    labels = np.tile([0.0, 0.0, 1.0], (1, 1, 2, 1)).astype(np.float32)
    preds = np.array([[[[0.0, 0.0, 2.0], [1.0, 0.0, 1.0]]]], np.float32)
    metric = NormalsMetrics()
    result = metric.result(accumulate({}, metric.statistics(labels, preds)))
    assert result["within_45"] == pytest.approx(100.0)
    assert result["within_30"] == pytest.approx(50.0)
    assert result["mean_angle"] == pytest.approx(22.5)
    assert result["rmse_angle"] == pytest.approx(45.0 / np.sqrt(2.0))


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
