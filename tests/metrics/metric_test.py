"""Tests for tfmtl.metrics.metric: accumulate, confusion_counts, replicas."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import confusion_matrix

from tfmtl.metrics import (
    ClassificationMetrics,
    DepthMetrics,
    Metric,
    NormalsMetrics,
    RegressionMetrics,
    SegmentationMetrics,
    accumulate,
)
from tfmtl.metrics.metric import confusion_counts, safe_divide
from tfmtl.testing import replica_statistics


def test_accumulate_sums_in_wide_dtypes_without_aliasing():
    first = {"count": np.array(2**31 - 1, np.int32), "sum": np.float32(0.5)}
    totals = accumulate({}, first)
    assert totals["count"].dtype == np.int64
    assert totals["sum"].dtype == np.float64
    accumulate(totals, {"count": np.int32(5), "sum": tf.constant(1.25)})
    assert totals["count"] == 2**31 + 4  # would overflow int32
    assert totals["sum"] == 1.75
    assert first["count"] == 2**31 - 1  # input untouched


def test_accumulate_arrays_elementwise():
    totals = accumulate({}, {"h": np.array([1, 2, 3], np.int32)})
    accumulate(totals, {"h": np.array([0, 5, 1], np.int32)})
    np.testing.assert_array_equal(totals["h"], [1, 7, 4])


def test_safe_divide_zero_denominator():
    assert safe_divide(3, 0) == 0.0
    assert safe_divide(3, 4) == 0.75


def test_confusion_counts_matches_sklearn_with_mask():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=50)
    preds = rng.integers(0, 4, size=50)
    valid = rng.random(50) > 0.3
    got = confusion_counts(labels, preds, 4, valid).numpy()
    expected = confusion_matrix(
        labels[valid], preds[valid], labels=np.arange(4)
    )
    np.testing.assert_array_equal(got, expected)


def test_base_class_is_abstract():
    metric = Metric("x")
    assert metric.name == "x"
    with pytest.raises(NotImplementedError):
        metric.statistics(None, None)
    with pytest.raises(NotImplementedError):
        metric.result({})


def _cases():
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 3, size=(4, 3, 3)).astype(np.int32)
    seg[0, 0] = 255
    depth = rng.uniform(0, 2, size=(4, 3, 3, 1)).astype(np.float32)
    depth[depth < 0.5] = 0.0
    normals = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    return [
        (
            ClassificationMetrics(3),
            rng.integers(0, 3, size=4).astype(np.int32),
            rng.normal(size=(4, 3)).astype(np.float32),
        ),
        (SegmentationMetrics(3), seg, rng.normal(size=(4, 3, 3, 3))),
        (DepthMetrics(), depth, rng.uniform(0, 2, size=(4, 3, 3, 1))),
        (NormalsMetrics(num_bins=180), normals, rng.normal(size=(4, 3, 3, 3))),
        (RegressionMetrics(), depth, rng.normal(size=(4, 3, 3, 1))),
    ]


@pytest.mark.parametrize("case", range(5))
def test_statistics_under_mirrored_strategy_sum_to_full_batch(case):
    metric, labels, preds = _cases()[case]
    preds = preds.astype(np.float32)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dataset = tf.data.Dataset.from_tensor_slices((labels, preds)).batch(4)
    totals = replica_statistics(strategy, metric, dataset)
    full = accumulate({}, metric.statistics(labels, preds))
    assert totals.keys() == full.keys()
    for name in full:
        np.testing.assert_allclose(totals[name], full[name], rtol=1e-5)
    assert metric.result(totals) == pytest.approx(metric.result(full))
    assert set(metric.result(full)) == set(metric.higher_is_better)
