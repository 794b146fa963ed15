"""Mean IoU and pixel accuracy of semantic segmentation.

Both come from one confusion matrix accumulated over the whole evaluation set,
as in AdaShare (reference notes adashare_taps.md §A3) and MTL-NAS
(fp_mtlnas.md §B.7), with the quirks listed in the class docstring resolved.
"""

import numpy as np
import tensorflow as tf

from tfmtl.metrics.metric import Metric, confusion_counts, safe_divide


class SegmentationMetrics(Metric):
    """Dataset-wide mIoU and pixel accuracy from logits.

    A pixel is counted when its label is in [0, C) and differs from
    `ignore_label`; every other label (the ignore label, -1, stray values)
    is left out of both metrics.

    * `miou`: IoU_c = TP_c / (TP_c + FP_c + FN_c), averaged over the classes
      that occur in the labels **or** the predictions of the evaluation set
      (union > 0). A class absent from both has an undefined 0/0 IoU and is
      skipped; a class that is predicted but never labelled, or labelled but
      never predicted, counts as 0.
    * `pixel_acc`: correctly labelled pixels / counted pixels, pooled over
      the whole set.

    With `compat=True` the two numbers are scored as AdaShare's test script
    does, so they can be compared with its published tables (pitfall P4):

    * `miou` averages IoU only over the classes with TP > 0 (a class that
      is labelled or predicted but never hit is dropped, not counted as 0).
    * `pixel_acc` is a per-image mean: each image's accuracy over its
      pixels with label < C (so a negative ignore label such as
      CityScapes' -1 counts as an error, while 255 is left out), averaged
      over the images that have such pixels.

    Args:
        num_classes: number of classes C.
        ignore_label: label of unlabeled pixels.
        name: name of the metric set.
        compat: score as AdaShare's reference evaluation (see above);
            False (default) gives the corrected definitions.

    Example:

    ```python
    metric = SegmentationMetrics(num_classes=40)
    stats = metric.statistics(labels, logits)  # {"confusion": [40, 40]}
    metric.result(accumulate({}, stats))  # {"miou": ..., "pixel_acc": ...}
    ```

    Reference:
        adashare_taps.md §A3 (AdaShare), fp_mtlnas.md §B.7 (MTL-NAS).
    """

    higher_is_better = {"miou": True, "pixel_acc": True}

    def __init__(
        self, num_classes, ignore_label=255, name="segmentation", compat=False
    ):
        super().__init__(name)
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.compat = bool(compat)

    def statistics(self, y_true, y_pred):
        """Confusion matrix of one batch.

        Args:
            y_true: int tensor [B, H, W] (a trailing axis of size 1 is
                accepted).
            y_pred: logits [B, H, W, C], any float dtype.

        Returns:
            `{"confusion": int32 [C, C]}` (rows: labels, columns: argmax);
            with `compat`, also `acc_sum` (float32, the sum of the
            per-image accuracies) and `acc_images` (int32, the number of
            images that have a pixel with label < C).
        """
        y_pred = tf.convert_to_tensor(y_pred)
        labels = tf.cast(y_true, tf.int32)
        if labels.shape.rank == y_pred.shape.rank:
            labels = tf.squeeze(labels, axis=-1)
        predictions = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        # compat: AdaShare keeps CityScapes' -1 ignore pixels in the pixel
        # accuracy (they count as errors); every out-of-range label is
        # excluded here (`compat=True` reproduces the reference).
        valid = (
            (labels != self.ignore_label)
            & (labels >= 0)
            & (labels < self.num_classes)
        )
        stats = {
            "confusion": confusion_counts(
                labels, predictions, self.num_classes, valid
            )
        }
        if self.compat:
            stats.update(self._per_image_accuracy(labels, predictions))
        return stats

    def _per_image_accuracy(self, labels, predictions):
        """Per-example accuracy sums of the compat pixel accuracy."""
        # compat: as AdaShare's test-time pixel accuracy (batch size 1, so
        # one mean per image): every pixel with label < C counts, negative
        # labels included (they never match), whatever `ignore_label` is.
        # Images without such a pixel are skipped (the reference gets NaN).
        counted = tf.cast(labels < self.num_classes, tf.float32)
        correct = tf.cast(labels == predictions, tf.float32) * counted
        axes = tf.range(1, tf.rank(labels))
        pixels = tf.reduce_sum(counted, axis=axes)
        hits = tf.reduce_sum(correct, axis=axes)
        has_pixels = pixels > 0
        accuracy = tf.where(has_pixels, hits / tf.maximum(pixels, 1.0), 0.0)
        return {
            "acc_sum": tf.reduce_sum(accuracy),
            "acc_images": tf.reduce_sum(tf.cast(has_pixels, tf.int32)),
        }

    def result(self, totals):
        confusion = np.asarray(totals["confusion"], dtype=np.float64)
        true_pos = np.diag(confusion)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_pos
        # compat: AdaShare drops classes with TP = 0 from the mean (inflating
        # it) and MTL-NAS averages over all C classes (absent ones count 0);
        # we average over the classes present in labels or predictions
        # (`compat=True` reproduces AdaShare).
        present = union > 0
        if self.compat:
            # compat: AdaShare's mean over the classes with TP > 0 only.
            present = true_pos > 0
        if present.any():
            miou = float(np.mean(true_pos[present] / union[present]))
        else:
            miou = 0.0
        # compat: AdaShare averages per-batch accuracies; this is the pooled
        # (per-pixel) accuracy, as in MTL-NAS (`compat=True`: AdaShare's).
        if self.compat:
            pixel_acc = safe_divide(totals["acc_sum"], totals["acc_images"])
        else:
            pixel_acc = safe_divide(true_pos.sum(), confusion.sum())
        return {"miou": miou, "pixel_acc": pixel_acc}
