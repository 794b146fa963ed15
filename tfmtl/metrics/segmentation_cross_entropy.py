"""Segmentation cross-entropy as an evaluation metric (Taskonomy "seg err").

AdaShare scores Taskonomy segmentation by the (prior-weighted) validation
cross-entropy rather than mIoU (reference notes adashare_taps.md §A3).
"""

import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide


class SegmentationCrossEntropy(Metric):
    """Class-weighted pixel cross-entropy pooled over the evaluation set.

    `sum_i w[y_i] ce_i / sum_i w[y_i]` over every valid pixel i of the set
    (label in [0, C) and not `ignore_label`), the metric twin of
    `tfmtl.losses.weighted_segmentation_cross_entropy`. Lower is better.

    Args:
        class_weights: float sequence [C], or None for equal weights.
        ignore_label: label value of unlabeled pixels.
        name: name of the metric set.

    Example:

    ```python
    metric = SegmentationCrossEntropy(class_weights=prior)
    metric.result(accumulate({}, metric.statistics(labels, logits)))
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (Taskonomy table).
    """

    higher_is_better = {"cross_entropy": False}

    def __init__(self, class_weights=None, ignore_label=255, name="seg_ce"):
        super().__init__(name)
        self.class_weights = (
            None if class_weights is None else [float(w) for w in class_weights]
        )
        self.ignore_label = ignore_label

    def statistics(self, y_true, y_pred):
        """Weighted loss sum and weight sum of one batch.

        Args:
            y_true: int tensor [B, H, W].
            y_pred: float logits [B, H, W, C], any float dtype.

        Returns:
            dict with float32 `loss_sum` and `weight_sum`.
        """
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(y_true, tf.int32)
        num_classes = tf.shape(logits)[-1]
        valid = (labels != self.ignore_label) & (labels >= 0)
        valid &= labels < num_classes
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=safe, logits=logits
        )
        weight = tf.cast(valid, tf.float32)
        if self.class_weights is not None:
            weight *= tf.gather(tf.constant(self.class_weights), safe)
        return {
            "loss_sum": tf.reduce_sum(loss * weight),
            "weight_sum": tf.reduce_sum(weight),
        }

    def result(self, totals):
        return {
            "cross_entropy": safe_divide(
                totals["loss_sum"], totals["weight_sum"]
            )
        }
