"""Tests for SegmentationMetrics against scikit-learn."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import confusion_matrix, jaccard_score

from tfmtl.metrics import SegmentationMetrics, accumulate

C = 4


def _traced(metric, dtype=tf.float32):
    return tf.function(
        metric.statistics,
        input_signature=[
            tf.TensorSpec([None, 5, 6], tf.int32),
            tf.TensorSpec([None, 5, 6, C], dtype),
        ],
    )


def _data(seed, batch=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, size=(batch, 5, 6)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.2] = 255
    labels[0, 0, 0] = -1  # out of range, not the ignore label
    labels[0, 0, 1] = C  # out of range
    logits = rng.normal(size=(batch, 5, 6, C)).astype(np.float32)
    return labels, logits


def _sklearn_reference(labels, logits):
    preds = logits.argmax(-1).ravel()
    flat = labels.ravel()
    keep = (flat >= 0) & (flat < C)
    return flat[keep], preds[keep]


def test_matches_sklearn_and_excludes_ignore_labels():
    labels, logits = _data(0)
    metric = SegmentationMetrics(C)
    stats = _traced(metric)(labels, logits)
    y_true, y_pred = _sklearn_reference(labels, logits)
    np.testing.assert_array_equal(
        stats["confusion"].numpy(),
        confusion_matrix(y_true, y_pred, labels=np.arange(C)),
    )
    result = metric.result(accumulate({}, stats))
    # jaccard_score's default label set is the union of y_true and y_pred.
    assert result["miou"] == pytest.approx(
        jaccard_score(y_true, y_pred, average="macro")
    )
    assert result["pixel_acc"] == pytest.approx(np.mean(y_true == y_pred))


def test_two_batches_sum_to_one_batch():
    labels, logits = _data(1, batch=4)
    metric = SegmentationMetrics(C)
    fn = _traced(metric)
    totals = {}
    accumulate(totals, fn(labels[:1], logits[:1]))
    accumulate(totals, fn(labels[1:], logits[1:]))
    full = accumulate({}, fn(labels, logits))
    np.testing.assert_array_equal(totals["confusion"], full["confusion"])
    assert metric.result(totals) == metric.result(full)


def test_miou_averages_over_classes_in_labels_or_predictions():
    # Labels use classes {0, 1}; predictions use {0, 2}; class 3 never
    # occurs. Class 0: TP 1 (pixel 0), FN 1 (pixel 1), FP 1 (pixel 2), so
    # IoU_0 = 1 / 3; IoU_1 = 0 (never predicted); IoU_2 = 0 (never
    # labelled); class 3 skipped -> mIoU = (1/3 + 0 + 0) / 3 = 1/9.
    labels = np.array([[[0, 0, 1]]], np.int32)
    preds = np.array([0, 2, 0])
    logits = np.eye(C, dtype=np.float32)[preds][None, None]
    metric = SegmentationMetrics(C)
    result = metric.result(accumulate({}, metric.statistics(labels, logits)))
    assert result["miou"] == pytest.approx(1 / 9)
    assert result["pixel_acc"] == pytest.approx(1 / 3)


def test_ignore_label_inside_class_range_and_trailing_axis():
    labels = np.array([[[[0], [1], [1]]]], np.int32)  # [1, 1, 3, 1]
    logits = np.eye(2, dtype=np.float32)[[0, 0, 1]][None, None]
    metric = SegmentationMetrics(2, ignore_label=0)
    result = metric.result(accumulate({}, metric.statistics(labels, logits)))
    # Only the two class-1 pixels count; one is right.
    assert result["pixel_acc"] == pytest.approx(0.5)


def test_bf16_logits_and_empty_set():
    labels, logits = _data(2)
    metric = SegmentationMetrics(C)
    bf16 = tf.cast(logits, tf.bfloat16)
    stats = _traced(metric, tf.bfloat16)(labels, bf16)
    y_true, _ = _sklearn_reference(labels, logits)
    assert int(stats["confusion"].numpy().sum()) == len(y_true)
    empty = np.full((1, 5, 6), 255, np.int32)
    result = metric.result(accumulate({}, metric.statistics(empty, logits[:1])))
    assert result == {"miou": 0.0, "pixel_acc": 0.0}
