"""SegmentationMetrics(compat=True): AdaShare's mIoU and pixel accuracy."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import jaccard_score

from tfmtl.metrics import SegmentationMetrics, accumulate
from tfmtl.testing import replica_statistics

C = 3
# Two 1x4 images. Image A has a CityScapes-style -1 pixel, image B a 255
# pixel; class 2 is labelled once (in B) but never predicted right.
LABELS = np.array([[[0, 0, 1, -1]], [[2, 255, 0, 0]]], np.int32)
PREDS = np.array([[[0, 1, 1, 0]], [[0, 2, 0, 0]]], np.int32)


def _logits(preds, num_classes=C):
    return tf.one_hot(preds, num_classes, dtype=tf.float32)


def _score(metric, batches):
    fn = tf.function(
        metric.statistics,
        input_signature=[
            tf.TensorSpec([None, None, None], tf.int32),
            tf.TensorSpec([None, None, None, C], tf.float32),
        ],
    )
    totals = {}
    for labels, preds in batches:
        accumulate(totals, fn(labels, _logits(preds)))
    return metric.result(totals)


def test_hand_worked_values_differ_from_the_default():
    # Counted pixels (label, pred): A (0,0) (0,1) (1,1); B (2,0) (0,0) (0,0).
    # TP = [3, 1, 0]; union = [5, 2, 1]; IoU = [0.6, 0.5, 0].
    default = _score(SegmentationMetrics(C), [(LABELS, PREDS)])
    assert default["miou"] == pytest.approx((0.6 + 0.5 + 0.0) / 3)
    assert default["pixel_acc"] == pytest.approx(4 / 6)
    compat = _score(SegmentationMetrics(C, compat=True), [(LABELS, PREDS)])
    # Class 2 has TP = 0: dropped from the mean.
    assert compat["miou"] == pytest.approx((0.6 + 0.5) / 2)
    # Per image over labels < C: A 2/4 (the -1 pixel is an error),
    # B 2/3 (255 is left out); mean 7/12 (pooled would be 4/7).
    assert compat["pixel_acc"] == pytest.approx((2 / 4 + 2 / 3) / 2)


def test_negative_ignore_label_still_counts_as_an_error():
    # CityScapes: ignore_label=-1 leaves the default metrics unchanged, and
    # the compat pixel accuracy still counts the -1 pixel, as the reference.
    default = _score(SegmentationMetrics(C, ignore_label=-1), [(LABELS, PREDS)])
    assert default["pixel_acc"] == pytest.approx(4 / 6)
    compat = _score(
        SegmentationMetrics(C, ignore_label=-1, compat=True), [(LABELS, PREDS)]
    )
    assert compat["pixel_acc"] == pytest.approx(7 / 12)
    assert compat["miou"] == pytest.approx(0.55)


def test_batches_and_unlabelled_images_do_not_change_the_result():
    metric = SegmentationMetrics(C, compat=True)
    blank = np.full((1, 1, 4), 255, np.int32)  # no pixel with label < C
    split = _score(
        metric,
        [
            (LABELS[:1], PREDS[:1]),
            (blank, np.zeros_like(blank)),
            (LABELS[1:], PREDS[1:]),
        ],
    )
    whole = _score(metric, [(LABELS, PREDS)])
    assert split == pytest.approx(whole)
    assert split["pixel_acc"] == pytest.approx(7 / 12)


def test_compat_miou_matches_brute_force_on_random_maps():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, size=(4, 5, 6)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.2] = 255
    preds = rng.integers(0, C - 1, size=labels.shape).astype(np.int32)
    result = _score(SegmentationMetrics(C, compat=True), [(labels, preds)])
    keep = labels < C
    ious = jaccard_score(
        labels[keep], preds[keep], labels=np.arange(C), average=None
    )
    hit = [np.any((labels == c) & (preds == c)) for c in range(C)]
    assert result["miou"] == pytest.approx(np.mean(ious[hit]))
    per_image = [
        np.mean(p[lab < C] == lab[lab < C]) for lab, p in zip(labels, preds)
    ]
    assert result["pixel_acc"] == pytest.approx(np.mean(per_image))


def test_empty_set_scores_zero():
    metric = SegmentationMetrics(C, compat=True)
    blank = np.full((2, 1, 4), 255, np.int32)
    result = _score(metric, [(blank, np.zeros_like(blank))])
    assert result == {"miou": 0.0, "pixel_acc": 0.0}


def test_two_replicas_sum_to_the_full_batch(mirrored_strategy):
    # Each replica gets one image; the per-image sums and counts add up.
    metric = SegmentationMetrics(C, compat=True)
    data = (LABELS, _logits(PREDS))
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(2)
    totals = replica_statistics(mirrored_strategy, metric, dataset)
    assert totals["acc_images"] == 2
    assert metric.result(totals) == pytest.approx(
        {"miou": 0.55, "pixel_acc": 7 / 12}
    )
