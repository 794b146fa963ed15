"""Mean absolute and mean squared error of dense or scalar regression.

Used for the `regression` task kind (edges, keypoints; reference notes
adashare_taps.md §A3 report the mean |p - g| on Taskonomy), pooled over
every element of the evaluation set.
"""

import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide


class RegressionMetrics(Metric):
    """Element-wise mean absolute error and mean squared error.

    By default every element of every example is counted, so the results
    are the means over all label elements of the whole set. With
    `ignore_value` set, label elements equal to it are left out, and the
    means are over the valid elements of the set (AdaShare's Taskonomy
    keypoint / edge scores leave out the value 255, `get_keypoint_metrics`
    / `get_edge_metrics` of `envs/base_env.py` in the reference code).

    Args:
        name: name of the metric set.
        ignore_value: label value of invalid elements, or None.

    Example:

    ```python
    metric = RegressionMetrics()
    stats = metric.statistics(labels, predictions)
    metric.result(accumulate({}, stats))  # {"abs_err": ..., "mse": ...}
    ```
    """

    higher_is_better = {"abs_err": False, "mse": False}

    def __init__(self, name="regression", ignore_value=None):
        super().__init__(name)
        self.ignore_value = (
            None if ignore_value is None else float(ignore_value)
        )

    def statistics(self, y_true, y_pred):
        """Error sums and element count of one batch.

        Args:
            y_true: float tensor [B, ...].
            y_pred: float tensor with the shape of `y_true`, any float dtype.

        Returns:
            dict with float32 `abs_sum`, `sq_sum` and int32 `count`.
        """
        labels = tf.cast(y_true, tf.float32)
        predictions = tf.cast(y_pred, tf.float32)
        diff = predictions - labels
        if self.ignore_value is None:
            return {
                "abs_sum": tf.reduce_sum(tf.abs(diff)),
                "sq_sum": tf.reduce_sum(tf.square(diff)),
                "count": tf.size(diff, out_type=tf.int32),
            }
        valid = tf.not_equal(labels, self.ignore_value)
        diff = tf.where(valid, diff, 0.0)
        return {
            "abs_sum": tf.reduce_sum(tf.abs(diff)),
            "sq_sum": tf.reduce_sum(tf.square(diff)),
            "count": tf.reduce_sum(tf.cast(valid, tf.int32)),
        }

    def result(self, totals):
        count = totals["count"]
        return {
            "abs_err": safe_divide(totals["abs_sum"], count),
            "mse": safe_divide(totals["sq_sum"], count),
        }
