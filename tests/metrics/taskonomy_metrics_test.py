"""NormalsCosine and SegmentationCrossEntropy against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses
from tfmtl.metrics import NormalsCosine, SegmentationCrossEntropy, accumulate


def test_normals_cosine_pools_valid_pixels_over_batches():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(3, 4, 5, 3)).astype(np.float32)
    labels[0, 0] = 0.0  # invalid row
    preds = rng.normal(size=(3, 4, 5, 3)).astype(np.float32) * 3.0
    metric = NormalsCosine()
    totals = accumulate({}, metric.statistics(labels[:1], preds[:1]))
    accumulate(totals, metric.statistics(labels[1:], preds[1:]))
    valid = np.abs(labels).sum(-1) > 0
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa
    cosine = (unit(preds[valid]) * unit(labels[valid])).sum(-1)
    assert int(totals["count"]) == valid.sum() == 3 * 20 - 5
    assert metric.result(totals)["cosine"] == pytest.approx(
        cosine.mean(), rel=1e-5
    )
    # Hand case: identical directions score 1, opposite ones -1.
    same = np.array([[[[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]]], np.float32)
    result = metric.result(
        accumulate({}, metric.statistics(same, same * [[1], [-1]]))
    )
    assert result["cosine"] == pytest.approx(0.0, abs=1e-6)
    assert metric.higher_is_better == {"cosine": True}


def test_segmentation_cross_entropy_metric_pools_the_weighted_loss():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=(2, 3, 4)).astype(np.int32)
    labels[1, 0] = 255
    weights = [1.0, 0.5, 2.0, 4.0, 0.1]
    metric = SegmentationCrossEntropy(class_weights=weights)
    fn = tf.function(metric.statistics)
    totals = accumulate({}, fn(labels[:1], logits[:1]))
    accumulate(totals, fn(labels[1:], logits[1:]))
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    valid = labels != 255
    y = labels[valid]
    ce = -np.take_along_axis(log_p[valid], y[:, None], -1)[:, 0]
    w = np.asarray(weights)[y]
    expected = (w * ce).sum() / w.sum()
    got = metric.result(totals)["cross_entropy"]
    assert got == pytest.approx(expected, rel=1e-5)
    # One example: the metric equals the per-example training loss.
    single = metric.result(accumulate({}, fn(labels[:1], logits[:1])))
    loss = losses.weighted_segmentation_cross_entropy(
        labels[:1], logits[:1], class_weights=weights
    )
    assert single["cross_entropy"] == pytest.approx(float(loss[0]), rel=1e-5)
