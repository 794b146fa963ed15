"""Tests for ClassificationMetrics against scikit-learn."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from tfmtl.metrics import ClassificationMetrics, accumulate


def _traced(metric, num_classes, dtype=tf.float32):
    return tf.function(
        metric.statistics,
        input_signature=[
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, num_classes], dtype),
        ],
    )


def _logits_for(preds, num_classes, rng):
    """Random logits whose argmax is `preds`."""
    logits = rng.normal(size=(len(preds), num_classes))
    logits[np.arange(len(preds)), preds] = 10.0
    return logits.astype(np.float32)


@pytest.mark.parametrize("num_classes", [2, 5])
def test_matches_sklearn(num_classes):
    rng = np.random.default_rng(num_classes)
    labels = rng.integers(0, num_classes, size=40).astype(np.int32)
    preds = rng.integers(0, num_classes, size=40)
    logits = _logits_for(preds, num_classes, rng)
    metric = ClassificationMetrics(num_classes)
    stats = _traced(metric, num_classes)(labels, logits)
    np.testing.assert_array_equal(
        stats["confusion"].numpy(),
        confusion_matrix(labels, preds, labels=np.arange(num_classes)),
    )
    result = metric.result(accumulate({}, stats))
    accuracy = accuracy_score(labels, preds)
    average = "binary" if num_classes == 2 else "macro"
    assert result["accuracy"] == pytest.approx(accuracy)
    assert result["error"] == pytest.approx(1.0 - accuracy)
    assert result["f1"] == pytest.approx(
        f1_score(labels, preds, average=average)
    )


def test_macro_f1_skips_classes_absent_from_labels_and_predictions():
    # Class 3 of 4 never occurs: macro over {0, 1, 2} as in sklearn.
    labels = np.array([0, 0, 1, 2, 2, 2], np.int32)
    preds = np.array([0, 1, 1, 2, 0, 2])
    metric = ClassificationMetrics(4)
    rng = np.random.default_rng(0)
    result = metric.result(
        accumulate({}, metric.statistics(labels, _logits_for(preds, 4, rng)))
    )
    # F1: class 0 = 2*1/(2+1+1) = 0.5, class 1 = 2/(2+1) = 2/3,
    # class 2 = 4/(4+0+1) = 0.8 -> mean 0.6556.
    assert result["f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert result["f1"] == pytest.approx(
        f1_score(labels, preds, average="macro")
    )


def test_two_batches_sum_to_one_batch_and_bf16_logits():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, size=10).astype(np.int32)
    logits = tf.cast(rng.normal(size=(10, 3)), tf.bfloat16)
    metric = ClassificationMetrics(3)
    fn = _traced(metric, 3, tf.bfloat16)
    totals = {}
    accumulate(totals, fn(labels[:4], logits[:4]))
    accumulate(totals, fn(labels[4:], logits[4:]))
    full = accumulate({}, fn(labels, logits))
    np.testing.assert_array_equal(totals["confusion"], full["confusion"])
    preds = np.argmax(tf.cast(logits, tf.float32).numpy(), axis=-1)
    assert metric.result(totals)["accuracy"] == pytest.approx(
        np.mean(preds == labels)
    )


def test_higher_is_better_and_validation():
    metric = ClassificationMetrics(3)
    assert metric.higher_is_better == {
        "accuracy": True,
        "error": False,
        "f1": True,
    }
    with pytest.raises(ValueError):
        ClassificationMetrics(1)
