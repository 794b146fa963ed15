"""Tests for tfmtl.losses against numpy hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_softmax_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2], np.int32)
    expected = -_log_softmax(logits.astype(np.float64))[np.arange(5), labels]
    got = losses.softmax_cross_entropy(labels, logits).numpy()
    assert got.shape == (5,) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_softmax_cross_entropy_hand_value():
    # Two equal logits: loss = log(2).
    got = losses.softmax_cross_entropy(
        np.array([1], np.int32), np.zeros((1, 2), np.float32)
    )
    np.testing.assert_allclose(got.numpy(), [np.log(2.0)], rtol=1e-6)


def test_segmentation_cross_entropy_masks_and_averages_per_example():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 4, 5, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=(3, 4, 5)).astype(np.int32)
    labels[0, :2] = 255  # ignore
    labels[1, 0, 0] = -1  # out of range: ignored too
    labels[1, 0, 1] = 6  # out of range: ignored too
    labels[2] = 255  # no valid pixel at all
    log_p = _log_softmax(logits.astype(np.float64))
    expected = []
    for b in range(3):
        valid = (labels[b] >= 0) & (labels[b] < 6)
        if not valid.any():
            expected.append(0.0)
            continue
        picked = np.take_along_axis(
            log_p[b], np.clip(labels[b], 0, 5)[..., None], axis=-1
        )[..., 0]
        expected.append(-picked[valid].mean())
    got = losses.segmentation_cross_entropy(labels, logits).numpy()
    assert got.shape == (3,)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[2] == 0.0


def test_depth_l1_over_valid_pixels():
    labels = np.zeros((2, 2, 2, 1), np.float32)
    preds = np.full((2, 2, 2, 1), 3.0, np.float32)
    labels[0, 0, 0, 0] = 1.0  # |3 - 1| = 2
    labels[0, 1, 1, 0] = 4.0  # |3 - 4| = 1  -> mean 1.5
    # example 1 has no valid pixel -> 0
    got = losses.depth_l1(labels, preds).numpy()
    np.testing.assert_allclose(got, [1.5, 0.0])


def test_normals_cosine_normalises_predictions_and_masks():
    rng = np.random.default_rng(2)
    labels = rng.normal(size=(2, 3, 3, 3))
    labels /= np.linalg.norm(labels, axis=-1, keepdims=True)
    labels[0, 0, :] = 0.0  # invalid row
    preds = rng.normal(size=(2, 3, 3, 3)) * 5.0  # not unit length
    cos = (preds * labels).sum(-1) / np.linalg.norm(preds, axis=-1)
    valid = np.any(labels != 0, axis=-1)
    expected = [(1 - cos[b][valid[b]]).mean() for b in range(2)]
    got = losses.normals_cosine(
        labels.astype(np.float32), preds.astype(np.float32)
    ).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_normals_cosine_perfect_and_opposite():
    label = np.zeros((2, 1, 1, 3), np.float32)
    label[:, 0, 0, 2] = 1.0
    pred = np.array([[[[0, 0, 2.0]]], [[[0, 0, -0.5]]]], np.float32)
    np.testing.assert_allclose(
        losses.normals_cosine(label, pred).numpy(), [0.0, 2.0], atol=1e-6
    )


def test_regression_losses_mean_over_non_batch_axes():
    rng = np.random.default_rng(3)
    labels = rng.normal(size=(3, 2, 4, 2)).astype(np.float32)
    preds = rng.normal(size=(3, 2, 4, 2)).astype(np.float32)
    diff = preds.astype(np.float64) - labels
    np.testing.assert_allclose(
        losses.regression_l1(labels, preds).numpy(),
        np.abs(diff).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.regression_l2(labels, preds).numpy(),
        np.square(diff).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_losses_cast_mixed_precision_predictions(dtype):
    rng = np.random.default_rng(4)
    depth = rng.uniform(1, 2, size=(2, 3, 3, 1)).astype(np.float32)
    pred = tf.cast(rng.uniform(1, 2, size=(2, 3, 3, 1)), dtype)
    out = losses.depth_l1(depth, pred)
    assert out.dtype == tf.float32
    expected = np.abs(tf.cast(pred, tf.float32).numpy() - depth).mean((1, 2, 3))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    logits = tf.cast(rng.normal(size=(2, 3, 3, 4)), dtype)
    seg = losses.segmentation_cross_entropy(
        np.zeros((2, 3, 3), np.int32), logits
    )
    assert seg.dtype == tf.float32


def test_losses_trace_with_unknown_batch_size():
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 4, 4], tf.int32),
            tf.TensorSpec([None, 4, 4, 3], tf.bfloat16),
        ]
    )
    def seg_loss(labels, logits):
        return losses.segmentation_cross_entropy(labels, logits)

    labels = np.full((2, 4, 4), 255, np.int32)
    labels[0] = 1
    out = seg_loss(labels, tf.zeros((2, 4, 4, 3), tf.bfloat16)).numpy()
    np.testing.assert_allclose(out, [np.log(3.0), 0.0], rtol=1e-6)


def test_weighted_segmentation_cross_entropy_is_the_weighted_mean():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=(2, 3, 4)).astype(np.int32)
    labels[0, 0] = 255
    labels[1] = 255
    weights = np.array([0.5, 2.0, 1.0, 3.0, 0.25])
    log_p = _log_softmax(logits.astype(np.float64))
    valid = labels[0] != 255
    y = labels[0][valid]
    ce = -np.take_along_axis(log_p[0][valid], y[:, None], axis=-1)[:, 0]
    expected = (weights[y] * ce).sum() / weights[y].sum()
    got = losses.weighted_segmentation_cross_entropy(
        labels, logits, class_weights=weights
    ).numpy()
    np.testing.assert_allclose(got, [expected, 0.0], rtol=1e-5)
    # Differs from the unweighted mean, which it equals without weights.
    assert abs(got[0] - ce.mean()) > 1e-3
    np.testing.assert_allclose(
        losses.weighted_segmentation_cross_entropy(labels, logits),
        losses.segmentation_cross_entropy(labels, logits),
        rtol=1e-6,
    )


def _reference_masked_l1(labels, preds, ignore_value):
    """float64 numpy of AdaShare's Taskonomy keypoint / edge L1.

    `get_keypoint_loss` / `get_edge_loss` of `envs/base_env.py` in
    github.com/sunxm2357/AdaShare: `nn.L1Loss` over the pixels whose label
    is not 255, applied here to one example at a time.
    """
    labels, preds = labels.astype(np.float64), preds.astype(np.float64)
    out = []
    for label, pred in zip(labels, preds):
        valid = label != ignore_value
        out.append(np.abs(pred - label)[valid].mean() if valid.any() else 0.0)
    return np.array(out)


def test_regression_l1_ignore_value_masks_padding():
    rng = np.random.default_rng(4)
    labels = rng.uniform(-1, 1, size=(3, 6, 5, 1)).astype(np.float32)
    labels[0, 4:] = 255.0  # padded bottom rows
    labels[1, :, 3:] = 255.0  # padded right columns
    labels[2] = 255.0  # all padding
    preds = rng.uniform(-1, 1, size=labels.shape).astype(np.float32)
    preds[0, 5, 0, 0] = np.inf  # a wild output on a padded pixel
    got = losses.regression_l1(labels, preds, ignore_value=255).numpy()
    expected = _reference_masked_l1(labels, preds, 255.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[2] == 0.0
    # The padding changes nothing: same loss as on the cropped-out labels.
    np.testing.assert_allclose(
        got[0],
        np.abs(preds[0, :4] - labels[0, :4].astype(np.float64)).mean(),
        rtol=1e-5,
    )
    # Default: every element counts, padding included.
    finite = np.nan_to_num(preds, posinf=0.0)
    np.testing.assert_allclose(
        losses.regression_l1(labels, finite).numpy(),
        np.abs(finite - labels.astype(np.float64)).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )
