"""Per-example task losses for every label layout in docs/design.md.

Each function returns a float32 loss of shape [B] (one value per example);
the trainer averages it over the *global* batch with
`tf.nn.compute_average_loss`. Dense losses average over the valid pixels of
each example, and an example with no valid pixel contributes 0 (never NaN).
Predictions are cast to float32 first so that mixed-precision (bf16 / fp16)
outputs are reduced in full precision.
"""

import tensorflow as tf

_EPSILON = 1e-12


def _masked_mean(values, mask, axis):
    """Mean of `values` over the entries where `mask` is set, per example."""
    # compat: the reference (AdaShare, MTL-NAS) averages a dense loss over
    # all valid pixels of the batch; per example, then over the batch, is
    # the same when examples have as many valid pixels, and otherwise gives
    # every example the same weight (what the global-batch contract needs).
    mask = tf.cast(mask, tf.float32)
    total = tf.reduce_sum(values * mask, axis=axis)
    count = tf.reduce_sum(mask, axis=axis)
    return tf.math.divide_no_nan(total, count)


def _non_batch_axes(tensor):
    return list(range(1, tensor.shape.rank))


def softmax_cross_entropy(labels, logits):
    """Softmax cross-entropy for integer class labels.

    Args:
        labels: int tensor [B] in [0, C).
        logits: float tensor [B, C].

    Returns:
        float32 tensor [B].
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits
    )


def _pixel_cross_entropy(labels, logits, ignore_label):
    """Per-pixel softmax cross-entropy [B, H, W], the valid-pixel mask and
    the labels with invalid pixels set to class 0."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank == logits.shape.rank:
        labels = tf.squeeze(labels, axis=-1)
    num_classes = tf.shape(logits)[-1]
    valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=safe_labels, logits=logits
    )
    return pixel_loss, valid, safe_labels


def segmentation_cross_entropy(labels, logits, ignore_label=255):
    """Pixel-wise cross-entropy averaged over the valid pixels of each example.

    A pixel is valid when its label is in [0, C) and differs from
    `ignore_label`; any other label is ignored rather than raising.

    Args:
        labels: int tensor [B, H, W] (a trailing axis of size 1 is accepted).
        logits: float tensor [B, H, W, C].
        ignore_label: label value of unlabeled pixels.

    Returns:
        float32 tensor [B]; 0 for an example without valid pixels.
    """
    pixel_loss, valid, _ = _pixel_cross_entropy(labels, logits, ignore_label)
    return _masked_mean(pixel_loss, valid, axis=[1, 2])


def depth_l1(labels, predictions):
    """Mean absolute depth error over the valid pixels (label > 0).

    Args:
        labels: float tensor [B, H, W, 1]; 0 marks an invalid pixel.
        predictions: float tensor [B, H, W, 1].

    Returns:
        float32 tensor [B]; 0 for an example without valid pixels.
    """
    predictions = tf.cast(predictions, tf.float32)
    labels = tf.cast(labels, tf.float32)
    valid = labels > 0
    error = tf.abs(predictions - labels)
    return _masked_mean(error, valid, axis=_non_batch_axes(labels))


def normals_cosine(labels, predictions):
    """Mean of (1 - cosine similarity) over the valid pixels of each example.

    Both vectors are L2-normalised, so the predictions need not be unit
    length. A pixel is valid when its label vector is not all zero.

    Args:
        labels: float tensor [B, H, W, 3] of unit normals, all-zero = invalid.
        predictions: float tensor [B, H, W, 3].

    Returns:
        float32 tensor [B]; 0 for an example without valid pixels.
    """
    predictions = tf.cast(predictions, tf.float32)
    labels = tf.cast(labels, tf.float32)
    valid = tf.reduce_any(tf.not_equal(labels, 0.0), axis=-1)
    unit_pred = tf.math.l2_normalize(predictions, axis=-1, epsilon=_EPSILON)
    unit_label = tf.math.l2_normalize(labels, axis=-1, epsilon=_EPSILON)
    cosine = tf.reduce_sum(unit_pred * unit_label, axis=-1)
    return _masked_mean(1.0 - cosine, valid, axis=[1, 2])


def regression_l1(labels, predictions, ignore_value=None):
    """Mean absolute error over all non-batch axes, or over the valid ones.

    With `ignore_value` set, label elements equal to it (e.g. the padding
    of a random crop) are left out of the mean, and an example without a
    valid element contributes 0. AdaShare masks its Taskonomy keypoint and
    edge losses this way, with 255 (`get_keypoint_loss` /
    `get_edge_loss` of `envs/base_env.py` in the reference code).

    Args:
        labels: float tensor [B, ...].
        predictions: float tensor with the shape of `labels`.
        ignore_value: label value of invalid elements, or None (every
            element counts).

    Returns:
        float32 tensor [B].
    """
    predictions = tf.cast(predictions, tf.float32)
    labels = tf.cast(labels, tf.float32)
    error = tf.abs(predictions - labels)
    axes = _non_batch_axes(error)
    if ignore_value is None:
        return tf.reduce_mean(error, axis=axes)
    valid = tf.not_equal(labels, float(ignore_value))
    # Where() keeps a non-finite prediction on an ignored pixel out of it.
    error = tf.where(valid, error, 0.0)
    return _masked_mean(error, valid, axis=axes)


def regression_l2(labels, predictions):
    """Mean squared error over all non-batch axes.

    Args:
        labels: float tensor [B, ...].
        predictions: float tensor with the shape of `labels`.

    Returns:
        float32 tensor [B].
    """
    predictions = tf.cast(predictions, tf.float32)
    labels = tf.cast(labels, tf.float32)
    error = tf.square(predictions - labels)
    return tf.reduce_mean(error, axis=_non_batch_axes(error))


def weighted_segmentation_cross_entropy(
    labels, logits, class_weights=None, ignore_label=255
):
    """Class-weighted pixel cross-entropy: the weighted mean per example.

    Each valid pixel i counts with the weight `w[y_i]` of its label, and an
    example's loss is `sum_i w[y_i] ce_i / sum_i w[y_i]` (PyTorch's
    `CrossEntropyLoss(weight=w)` mean). AdaShare weights Taskonomy's
    segmentation with `semseg_prior_factor.npy` (see
    `tfmtl.data.taskonomy.read_semseg_prior`). With `class_weights=None` this
    equals `segmentation_cross_entropy`.

    Args:
        labels: int tensor [B, H, W] (a trailing axis of size 1 is accepted).
        logits: float tensor [B, H, W, C].
        class_weights: float sequence [C], or None for equal weights.
        ignore_label: label value of unlabeled pixels.

    Returns:
        float32 tensor [B]; 0 for an example without valid pixels.
    """
    # compat: the reference normalises over the whole batch; per example
    # (as every tfmtl loss) is the same when examples weigh alike.
    pixel_loss, valid, safe_labels = _pixel_cross_entropy(
        labels, logits, ignore_label
    )
    weight = tf.cast(valid, tf.float32)
    if class_weights is not None:
        table = tf.constant(class_weights, tf.float32)
        weight *= tf.gather(table, safe_labels)
    total = tf.reduce_sum(pixel_loss * weight, axis=[1, 2])
    return tf.math.divide_no_nan(total, tf.reduce_sum(weight, axis=[1, 2]))
