"""Depth errors and δ-threshold accuracies over the valid pixels (label > 0).

Definitions follow AdaShare's NYUv2 / CityScapes evaluation (reference notes
adashare_taps.md §A3), with every quantity pooled over all valid pixels of
the evaluation set.
"""

import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide

_THRESHOLD_BASE = 1.25


class DepthMetrics(Metric):
    """Absolute / relative depth error and δ1, δ2, δ3 accuracies.

    With d the prediction and d* the label, over the valid pixels (d* > 0):

    * `abs_err`: mean |d - d*|.
    * `rel_err`: mean |d - d*| / d*.
    * `delta{k}` (k = 1, 2, 3): fraction of pixels with
      max(d / d*, d* / d) < 1.25^k; a non-positive prediction never counts
      as within the threshold.

    With `compat=True` the numbers are scored as AdaShare's test script
    does, so they can be compared with its published tables (pitfall P4):
    `abs_err` and `rel_err` are per-image means (each image's mean over its
    valid pixels, averaged over the images that have a valid pixel), and
    `delta{k}`, still pooled over all valid pixels, counts the pixels with
    max(d / d*, d* / d) <= 1.25^k, where a negative prediction always
    counts (both ratios are negative) and a zero prediction never does.

    Args:
        name: name of the metric set.
        compat: score as AdaShare's reference evaluation (see above);
            False (default) gives the corrected definitions.

    Example:

    ```python
    metric = DepthMetrics()
    stats = metric.statistics(depth_labels, depth_predictions)
    metric.result(accumulate({}, stats))  # {"abs_err": ..., "delta1": ...}
    ```

    Reference:
        adashare_taps.md §A3 (AdaShare depth evaluation).
    """

    higher_is_better = {
        "abs_err": False,
        "rel_err": False,
        "delta1": True,
        "delta2": True,
        "delta3": True,
    }

    def __init__(self, name="depth", compat=False):
        super().__init__(name)
        self.compat = bool(compat)

    def statistics(self, y_true, y_pred):
        """Error sums and pixel counts of one batch.

        Args:
            y_true: float tensor [B, H, W, 1]; 0 marks an invalid pixel.
            y_pred: float tensor [B, H, W, 1], any float dtype.

        Returns:
            dict with float32 sums `abs_sum`, `rel_sum` and int32 counts
            `count`, `delta1`, `delta2`, `delta3`; with `compat`, also the
            float32 sums of per-image means `image_abs_sum`,
            `image_rel_sum` and the int32 count `images` of images with a
            valid pixel.
        """
        labels = tf.cast(y_true, tf.float32)
        predictions = tf.cast(y_pred, tf.float32)
        valid = labels > 0
        safe_labels = tf.where(valid, labels, tf.ones_like(labels))
        abs_diff = tf.where(valid, tf.abs(predictions - labels), 0.0)
        # compat: AdaShare takes per-image means of abs/rel error at test
        # time (batch size 1); these are pooled per-pixel means.
        rel_diff = abs_diff / safe_labels
        stats = {
            "abs_sum": tf.reduce_sum(abs_diff),
            "rel_sum": tf.reduce_sum(rel_diff),
            "count": tf.reduce_sum(tf.cast(valid, tf.int32)),
        }
        if self.compat:
            stats.update(self._per_image_errors(valid, abs_diff, rel_diff))
        positive = predictions > 0
        safe_predictions = tf.where(positive, predictions, 1.0)
        ratio = tf.maximum(
            safe_predictions / safe_labels, safe_labels / safe_predictions
        )
        # compat: AdaShare uses r <= 1.25^k and lets a negative prediction
        # pass; here r < 1.25^k (as specified) and d <= 0 always fails.
        # `compat=True` reproduces the reference.
        for k in (1, 2, 3):
            if self.compat:
                passes = (predictions < 0) | (
                    positive & (ratio <= _THRESHOLD_BASE**k)
                )
            else:
                passes = positive & (ratio < _THRESHOLD_BASE**k)
            within = valid & passes
            stats[f"delta{k}"] = tf.reduce_sum(tf.cast(within, tf.int32))
        return stats

    def _per_image_errors(self, valid, abs_diff, rel_diff):
        """Sums over the images of their mean abs / rel errors (compat)."""
        # compat: AdaShare averages abs/rel errors per batch of its test
        # script (batch size 1), i.e. per image; images without a valid
        # pixel are skipped (the reference gets NaN for them).
        axes = tf.range(1, tf.rank(abs_diff))
        pixels = tf.reduce_sum(tf.cast(valid, tf.float32), axis=axes)
        has_pixels = pixels > 0
        per_pixel = pixels + tf.cast(~has_pixels, tf.float32)
        image_abs = tf.reduce_sum(abs_diff, axis=axes) / per_pixel
        image_rel = tf.reduce_sum(rel_diff, axis=axes) / per_pixel
        return {
            "image_abs_sum": tf.reduce_sum(image_abs),
            "image_rel_sum": tf.reduce_sum(image_rel),
            "images": tf.reduce_sum(tf.cast(has_pixels, tf.int32)),
        }

    def result(self, totals):
        count = totals["count"]
        if self.compat:
            images = totals["images"]
            results = {
                "abs_err": safe_divide(totals["image_abs_sum"], images),
                "rel_err": safe_divide(totals["image_rel_sum"], images),
            }
        else:
            results = {
                "abs_err": safe_divide(totals["abs_sum"], count),
                "rel_err": safe_divide(totals["rel_sum"], count),
            }
        for k in (1, 2, 3):
            results[f"delta{k}"] = safe_divide(totals[f"delta{k}"], count)
        return results
