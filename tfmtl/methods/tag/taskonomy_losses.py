"""The Taskonomy losses of TAG's second benchmark.

Reference: `taskonomy_losses.py` of github.com/tstandley/taskgrouping (the
code that google-research `tag/taskonomy/tag.patch` patches; the patch runs
with `--tasks=sdntk` and `rotate_loss=True`):

* `segment_semantic_loss`: cross-entropy with `ignore_index=0`, averaged
  over the valid pixels of the whole batch (`reduction='mean'`).
* `depth_loss` / `normal_loss`: `rotate_loss` over `depth_loss_base` /
  `normal_loss_base`: the masked L1, averaged over *all* pixels and channels
  of an example (masked pixels count as 0 in the mean), taken as the
  minimum over the nine one-pixel shifts of the prediction against the
  target cropped by one pixel, then averaged over the batch.
* `keypoints2d_loss` / `edge2d_loss` (edge_texture): the plain L1 mean
  (no mask); in tfmtl that is `tfmtl.losses.regression_l1`.

Each function returns a per-example float32 loss [B], whose mean over the
batch is the reference's value (labels and predictions NHWC).
"""

import tensorflow as tf

_SHIFTS = tuple((dy, dx) for dy in range(3) for dx in range(3))


def segment_semantic_loss(labels, logits, ignore_label=0):
    """Cross-entropy over the valid pixels of the batch, as per-example terms.

    Example b gets `B * sum_b(ce) / n_valid(batch)`, so the batch mean is
    the reference's `cross_entropy(..., ignore_index=0, reduction='mean')`.
    A batch without a valid pixel gives 0 (the reference gives NaN).

    Args:
        labels: int tensor [B, H, W] (a trailing axis of size 1 is accepted).
        logits: float tensor [B, H, W, C].
        ignore_label: the ignored class (the reference's `ignore_index=0`).

    Returns:
        float32 tensor [B].
    """
    # compat: under several replicas the pool is each replica's batch, not
    # the global one (identical on one replica, as the reference ran).
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank == logits.shape.rank:
        labels = tf.squeeze(labels, axis=-1)
    valid = tf.not_equal(labels, ignore_label)
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=safe, logits=logits
    )
    ce = tf.where(valid, ce, 0.0)
    per_example = tf.reduce_sum(ce, axis=[1, 2])
    count = tf.reduce_sum(tf.cast(valid, tf.float32))
    batch = tf.cast(tf.shape(logits)[0], tf.float32)
    return tf.math.divide_no_nan(per_example * batch, count)


def rotated_l1(labels, predictions, mask):
    """The reference's `rotate_loss` with the masked L1 base, per example.

    Args:
        labels: float tensor [B, H, W, C].
        predictions: float tensor [B, H, W, C].
        mask: bool or float tensor [B, H, W, 1] (or [B, H, W, C]).

    Returns:
        float32 tensor [B]: min over the nine shifts of the mean over
        (H - 2, W - 2, C) of `|prediction_shifted - label| * mask`.
    """
    predictions = tf.cast(predictions, tf.float32)
    target = tf.cast(labels, tf.float32)[:, 1:-1, 1:-1, :]
    mask = tf.cast(mask, tf.float32)[:, 1:-1, 1:-1, :]
    height, width = tf.shape(target)[1], tf.shape(target)[2]
    losses = []
    for dy, dx in _SHIFTS:
        shifted = predictions[:, dy : dy + height, dx : dx + width, :]
        error = tf.abs(shifted - target) * mask
        losses.append(tf.reduce_mean(error, axis=[1, 2, 3]))
    return tf.reduce_min(tf.stack(losses, axis=0), axis=0)


def depth_loss(labels, predictions):
    """Rotated masked L1 of depth; valid pixels are those with label > 0.

    The reference's mask is Taskonomy's `mask` image (else depth < 2^13);
    `tfmtl.data.taskonomy` marks invalid depth as 0, so the mask is
    `labels > 0` here.

    Args:
        labels: float tensor [B, H, W, 1]; 0 marks an invalid pixel.
        predictions: float tensor [B, H, W, 1].

    Returns:
        float32 tensor [B].
    """
    return rotated_l1(labels, predictions, labels > 0)


def normal_loss(labels, predictions):
    """Rotated masked L1 of surface normals; all-zero labels are invalid.

    With `Taskonomy(mask_normals=True)` the normals are zero exactly where
    the depth is invalid, which is the reference's mask for this task.

    Args:
        labels: float tensor [B, H, W, 3].
        predictions: float tensor [B, H, W, 3].

    Returns:
        float32 tensor [B].
    """
    valid = tf.reduce_any(tf.not_equal(labels, 0.0), axis=-1, keepdims=True)
    return rotated_l1(labels, predictions, valid)
