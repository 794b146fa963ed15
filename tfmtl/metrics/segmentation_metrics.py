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

    Args:
        num_classes: number of classes C.
        ignore_label: label of unlabeled pixels.
        name: name of the metric set.

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

    def __init__(self, num_classes, ignore_label=255, name="segmentation"):
        super().__init__(name)
        self.num_classes = num_classes
        self.ignore_label = ignore_label

    def statistics(self, y_true, y_pred):
        """Confusion matrix of one batch.

        Args:
            y_true: int tensor [B, H, W] (a trailing axis of size 1 is
                accepted).
            y_pred: logits [B, H, W, C], any float dtype.

        Returns:
            `{"confusion": int32 [C, C]}` (rows: labels, columns: argmax).
        """
        y_pred = tf.convert_to_tensor(y_pred)
        labels = tf.cast(y_true, tf.int32)
        if labels.shape.rank == y_pred.shape.rank:
            labels = tf.squeeze(labels, axis=-1)
        predictions = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        # compat: AdaShare keeps CityScapes' -1 ignore pixels in the pixel
        # accuracy (they count as errors); every out-of-range label is
        # excluded here.
        valid = (
            (labels != self.ignore_label)
            & (labels >= 0)
            & (labels < self.num_classes)
        )
        return {
            "confusion": confusion_counts(
                labels, predictions, self.num_classes, valid
            )
        }

    def result(self, totals):
        confusion = np.asarray(totals["confusion"], dtype=np.float64)
        true_pos = np.diag(confusion)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_pos
        # compat: AdaShare drops classes with TP = 0 from the mean (inflating
        # it) and MTL-NAS averages over all C classes (absent ones count 0);
        # we average over the classes present in labels or predictions.
        present = union > 0
        if present.any():
            miou = float(np.mean(true_pos[present] / union[present]))
        else:
            miou = 0.0
        # compat: AdaShare averages per-batch accuracies; this is the pooled
        # (per-pixel) accuracy, as in MTL-NAS.
        pixel_acc = safe_divide(true_pos.sum(), confusion.sum())
        return {"miou": miou, "pixel_acc": pixel_acc}
