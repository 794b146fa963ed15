"""Base class for summable evaluation metrics (docs/design.md, "Metrics").

A metric is a plain Python object, not a Keras metric. `statistics` runs per
replica inside the traced evaluation step and returns sufficient statistics
(counts, sums, a confusion matrix, a histogram) that are exact when summed
over replicas and batches; the host adds them up with `accumulate` and calls
`result` once at the end. The final numbers therefore do not depend on the
number of replicas, the batch size or the order of the batches.
"""

import numpy as np
import tensorflow as tf


def accumulate(totals, stats):
    """Adds one set of statistics into running totals, in place.

    Integer statistics are accumulated as int64 and floating ones as float64,
    so long evaluations neither overflow nor lose precision.

    Args:
        totals: dict `{name: np.ndarray}` of running sums (may be empty).
        stats: dict `{name: array-like}` returned by `Metric.statistics`
            (eager tensors or numpy arrays).

    Returns:
        `totals`, updated.
    """
    for name, value in stats.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.integer) or value.dtype == bool:
            value = value.astype(np.int64)
        else:
            value = value.astype(np.float64)
        if name in totals:
            totals[name] = totals[name] + value
        else:
            totals[name] = value.copy()
    return totals


def safe_divide(numerator, denominator):
    """`numerator / denominator` as a float, or 0.0 when the denominator is 0.

    Used so that an empty evaluation set reports 0 rather than NaN.
    """
    denominator = float(denominator)
    if denominator == 0.0:
        return 0.0
    return float(numerator) / denominator


def confusion_counts(labels, predictions, num_classes, valid):
    """Confusion matrix of integer labels vs predictions over valid entries.

    Args:
        labels: int tensor of any shape.
        predictions: int tensor with the shape of `labels`.
        num_classes: static number of classes C.
        valid: bool tensor with the shape of `labels`; entries where it is
            False are not counted (they must still be finite integers).

    Returns:
        int32 tensor [C, C]; entry [i, j] counts label i predicted as j.
    """
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    predictions = tf.cast(tf.reshape(predictions, [-1]), tf.int32)
    valid = tf.reshape(valid, [-1])
    size = num_classes * num_classes
    # Invalid entries go to one extra bin that is dropped afterwards.
    index = tf.where(valid, labels * num_classes + predictions, size)
    counts = tf.math.bincount(
        index, minlength=size + 1, maxlength=size + 1, dtype=tf.int32
    )
    return tf.reshape(counts[:size], [num_classes, num_classes])


class Metric:
    """A set of named evaluation results computed from summable statistics.

    Subclasses implement `statistics` (TensorFlow, traced per replica) and
    `result` (numpy, on the host), and set `higher_is_better` with one entry
    per key that `result` returns.

    Args:
        name: name of the metric set (used for logging only).

    Example:

    ```python
    metric = RegressionMetrics()
    totals = {}
    for labels, predictions in batches:
        accumulate(totals, metric.statistics(labels, predictions))
    metric.result(totals)  # {"abs_err": ..., "mse": ...}
    ```
    """

    higher_is_better: dict[str, bool] = {}

    def __init__(self, name):
        self.name = name

    def statistics(self, y_true, y_pred):
        """Sufficient statistics of one (per-replica) batch.

        Args:
            y_true: labels, in the layout of the task kind.
            y_pred: model outputs, any float dtype.

        Returns:
            dict `{name: tensor}` whose values are summed elementwise over
            replicas and batches.
        """
        raise NotImplementedError

    def result(self, totals):
        """Final metric values from the summed statistics.

        Args:
            totals: dict `{name: np.ndarray}`, the sums of `statistics`.

        Returns:
            dict `{name: float}` with the keys of `higher_is_better`.
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"
