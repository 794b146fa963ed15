"""DepthMetrics(compat=True): AdaShare's per-image errors and δ rule."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics import DepthMetrics, accumulate
from tfmtl.testing import replica_statistics

# Two 1x3 images (0 = invalid). Image A has two valid pixels, image B one,
# so per-image and pooled means differ. Ratios: A 1.25 (exactly the δ1
# bound) and 2; B a negative prediction.
LABELS = np.array([[1.0, 2.0, 0.0], [4.0, 0.0, 0.0]], np.float32)
PREDS = np.array([[1.25, 1.0, 5.0], [-1.0, 3.0, 3.0]], np.float32)


def _maps(array):
    return array.reshape(array.shape[0], 1, -1, 1)


def _score(metric, batches):
    fn = tf.function(
        metric.statistics,
        input_signature=[tf.TensorSpec([None, 1, None, 1], tf.float32)] * 2,
    )
    totals = {}
    for labels, preds in batches:
        accumulate(totals, fn(_maps(labels), _maps(preds)))
    return metric.result(totals)


def test_hand_worked_values_differ_from_the_default():
    # |d - d*|: A 0.25, 1.0; B 5.0. Relative: A 0.25, 0.5; B 1.25.
    default = _score(DepthMetrics(), [(LABELS, PREDS)])
    assert default["abs_err"] == pytest.approx(6.25 / 3)
    assert default["rel_err"] == pytest.approx(2.0 / 3)
    # r = 1.25 is not < 1.25; the negative prediction never counts.
    assert default["delta1"] == 0.0
    assert default["delta2"] == pytest.approx(1 / 3)
    assert default["delta3"] == pytest.approx(1 / 3)

    compat = _score(DepthMetrics(compat=True), [(LABELS, PREDS)])
    # Per-image means: A 0.625, B 5.0 -> 2.8125; A 0.375, B 1.25 -> 0.8125.
    assert compat["abs_err"] == pytest.approx((0.625 + 5.0) / 2)
    assert compat["rel_err"] == pytest.approx((0.375 + 1.25) / 2)
    # Pooled over the 3 valid pixels with r <= 1.25^k: the 1.25 pixel and
    # the negative prediction pass every threshold, r = 2 none (2 > 1.25^3).
    for k in (1, 2, 3):
        assert compat[f"delta{k}"] == pytest.approx(2 / 3)


def test_zero_prediction_fails_and_negative_passes():
    labels = np.array([[2.0, 2.0, 2.0]], np.float32)
    preds = np.array([[0.0, -0.5, 2.6]], np.float32)  # r(2.6) = 1.3
    compat = _score(DepthMetrics(compat=True), [(labels, preds)])
    assert compat["delta1"] == pytest.approx(1 / 3)  # only -0.5
    assert compat["delta2"] == pytest.approx(2 / 3)  # -0.5 and 2.6
    default = _score(DepthMetrics(), [(labels, preds)])
    assert default["delta1"] == 0.0
    assert default["delta2"] == pytest.approx(1 / 3)


def test_batches_and_images_without_valid_pixels_do_not_matter():
    metric = DepthMetrics(compat=True)
    blank = np.zeros((1, 3), np.float32)
    split = _score(
        metric,
        [
            (LABELS[:1], PREDS[:1]),
            (blank, blank + 7.0),
            (LABELS[1:], PREDS[1:]),
        ],
    )
    assert split == pytest.approx(_score(metric, [(LABELS, PREDS)]))
    assert split["abs_err"] == pytest.approx(2.8125)


def test_empty_set_scores_zero():
    blank = np.zeros((2, 3), np.float32)
    result = _score(DepthMetrics(compat=True), [(blank, blank + 1.0)])
    assert set(result.values()) == {0.0}


def test_two_replicas_sum_to_the_full_batch(mirrored_strategy):
    # Each replica gets one image; the per-image sums and counts add up.
    metric = DepthMetrics(compat=True)
    dataset = tf.data.Dataset.from_tensor_slices(
        (_maps(LABELS), _maps(PREDS))
    ).batch(2)
    totals = replica_statistics(mirrored_strategy, metric, dataset)
    assert totals["images"] == 2
    assert metric.result(totals) == pytest.approx(
        _score(metric, [(LABELS, PREDS)])
    )
    assert metric.result(totals)["abs_err"] == pytest.approx(2.8125)
