"""Taskonomy losses of TAG against float64 numpy versions of the reference.

Reference: `taskonomy_losses.py` of github.com/tstandley/taskgrouping:
`segment_semantic_loss` (cross_entropy, ignore_index=0, reduction='mean'),
`rotate_loss` with `depth_loss_base` / `normal_loss_base` (the min over nine
shifts of the per-example mean of |o - t| * mask, over C, H, W; the mask is
[B, 1, H, W] broadcast over channels), as run by google-research
`tag/taskonomy/tag.patch` (`rotate_loss=True`). The numpy versions work in
NCHW, following the reference's slicing literally.
"""

import numpy as np
import tensorflow as tf

from tfmtl.methods.tag import taskonomy_losses


def _np_ce_ignore0(labels, logits):
    """cross_entropy(logits NCHW, labels, ignore_index=0, 'mean')."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    total, count = 0.0, 0
    b, _, h, w = logits.shape
    for n in range(b):
        for i in range(h):
            for j in range(w):
                y = labels[n, i, j]
                if y == 0:
                    continue
                total -= logp[n, y, i, j]
                count += 1
    return total / count


def _np_rotate_loss(output, target, mask):
    """rotate_loss(output, target, mask, *_loss_base), NCHW float64."""
    target = target[:, :, 1:-1, 1:-1].astype(np.float64)
    mask = mask[:, :, 1:-1, 1:-1].astype(np.float64)
    output = output.astype(np.float64)

    def base(o):
        return (np.abs(o - target) * mask).mean(axis=(1, 2, 3))

    windows = [
        output[:, :, 1:-1, 1:-1],
        output[:, :, 0:-2, 1:-1],
        output[:, :, 1:-1, 0:-2],
        output[:, :, 2:, 1:-1],
        output[:, :, 1:-1, 2:],
        output[:, :, 0:-2, 0:-2],
        output[:, :, 2:, 2:],
        output[:, :, 0:-2, 2:],
        output[:, :, 2:, 0:-2],
    ]
    loss = base(windows[0])
    for o in windows[1:]:
        loss = np.minimum(loss, base(o))
    return loss.mean()


def _nhwc(x):
    return tf.constant(np.transpose(x, (0, 2, 3, 1)), tf.float32)


def test_segment_semantic_matches_batch_mean_with_ignore_zero():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 18, 5, 6)).astype(np.float32) * 3
    labels = rng.integers(0, 18, size=(3, 5, 6))
    labels[0] = 0  # an example with no valid pixel
    labels[1, :, :4] = 0  # uneven valid counts: pooling matters
    got = taskonomy_losses.segment_semantic_loss(
        tf.constant(labels), _nhwc(logits)
    )
    expected = _np_ce_ignore0(labels, logits)
    np.testing.assert_allclose(np.mean(got.numpy()), expected, rtol=1e-5)
    assert got.numpy()[0] == 0.0


def test_segment_semantic_all_ignored_is_zero_not_nan():
    logits = tf.zeros((2, 3, 3, 4))
    got = taskonomy_losses.segment_semantic_loss(
        tf.zeros((2, 3, 3), tf.int32), logits
    )
    np.testing.assert_array_equal(got.numpy(), [0.0, 0.0])


def test_depth_loss_matches_rotate_loss():
    rng = np.random.default_rng(1)
    target = rng.uniform(0.1, 1.0, size=(4, 1, 7, 8))
    target[target < 0.3] = 0.0  # invalid pixels (tfmtl marks them 0)
    # A prediction that is the target shifted by one pixel: the min over
    # shifts must pick the matching window (exactly 0 loss in that window).
    output = np.zeros_like(target)
    output[:, :, 1:, :] = target[:, :, :-1, :]
    output += rng.normal(scale=0.05, size=output.shape)
    mask = target > 0
    got = taskonomy_losses.depth_loss(_nhwc(target), _nhwc(output))
    expected = _np_rotate_loss(output, target, mask)
    np.testing.assert_allclose(np.mean(got.numpy()), expected, rtol=1e-5)
    unshifted = (np.abs(output - target) * mask)[:, :, 1:-1, 1:-1].mean()
    assert expected < unshifted  # the shift search is exercised


def test_normal_loss_matches_rotate_loss_with_broadcast_mask():
    rng = np.random.default_rng(2)
    target = rng.uniform(-1, 1, size=(2, 3, 6, 6))
    invalid = rng.uniform(size=(2, 1, 6, 6)) < 0.3
    target = np.where(invalid, 0.0, target)
    output = rng.uniform(-1, 1, size=target.shape)
    got = taskonomy_losses.normal_loss(_nhwc(target), _nhwc(output))
    expected = _np_rotate_loss(output, target, ~invalid)
    np.testing.assert_allclose(np.mean(got.numpy()), expected, rtol=1e-5)
