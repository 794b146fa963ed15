"""Accuracy, error and F1 of a classifier from a dataset-wide confusion matrix.

Used for the `binary` (attribute) and `classification` task kinds; F1 follows
scikit-learn's `f1_score` (binary F1 of class 1 for two classes, otherwise
the macro average over the classes present in the labels or predictions).
"""

import numpy as np
import tensorflow as tf

from tfmtl.metrics.metric import Metric, confusion_counts, safe_divide


class ClassificationMetrics(Metric):
    """Classification accuracy, error and F1 from logits.

    The statistic is one C x C confusion matrix (rows: labels, columns:
    argmax of the logits). Labels outside [0, C) are not counted.

    * `accuracy`: trace / total.
    * `error`: 1 - accuracy.
    * `f1`: for C == 2 the F1 of the positive class 1,
      2 TP / (2 TP + FP + FN); otherwise the unweighted mean of the per-class
      F1 over the classes that occur in the labels or the predictions (the
      set scikit-learn's `f1_score(average="macro")` uses by default).
      Undefined values (nothing to count) are reported as 0.

    Args:
        num_classes: number of classes C (2 for binary attributes).
        name: name of the metric set.

    Example:

    ```python
    metric = ClassificationMetrics(num_classes=10)
    stats = metric.statistics(labels, logits)  # {"confusion": [10, 10]}
    metric.result(accumulate({}, stats))
    ```
    """

    higher_is_better = {"accuracy": True, "error": False, "f1": True}

    def __init__(self, num_classes, name="classification"):
        super().__init__(name)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.num_classes = num_classes

    def statistics(self, y_true, y_pred):
        """Confusion matrix of one batch.

        Args:
            y_true: int tensor [B] in [0, C).
            y_pred: logits [B, C], any float dtype.

        Returns:
            `{"confusion": int32 [C, C]}`.
        """
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        predictions = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        valid = (labels >= 0) & (labels < self.num_classes)
        return {
            "confusion": confusion_counts(
                labels, predictions, self.num_classes, valid
            )
        }

    def result(self, totals):
        confusion = np.asarray(totals["confusion"], dtype=np.float64)
        true_pos = np.diag(confusion)
        false_pos = confusion.sum(axis=0) - true_pos
        false_neg = confusion.sum(axis=1) - true_pos
        accuracy = safe_divide(true_pos.sum(), confusion.sum())
        f1_denominator = 2 * true_pos + false_pos + false_neg
        if self.num_classes == 2:
            f1 = safe_divide(2 * true_pos[1], f1_denominator[1])
        else:
            present = f1_denominator > 0
            per_class = 2 * true_pos[present] / f1_denominator[present]
            f1 = float(per_class.mean()) if present.any() else 0.0
        return {"accuracy": accuracy, "error": 1.0 - accuracy, "f1": f1}
