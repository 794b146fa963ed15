"""The mean loss of a task over the examples labelled for it."""

import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide


class OwnDataLoss(Metric):
    """Mean cross-entropy over the examples whose label is not negative.

    When one split holds the data of several tasks (joint TAPS over the
    DomainNet domains), an example is labelled only for its own task and
    the controller's `loss/<task>` averages over every example. This metric
    reports `loss`, the task's mean loss on its own examples only.

    Args:
        loss: per-example loss `loss(labels, logits) -> [B]` that is 0 for
            negative labels (e.g. `own_data_cross_entropy`).
        name: name of the metric set.

    Example:

    ```python
    metric = OwnDataLoss(own_data_cross_entropy)
    metric.result(metric.statistics(labels, logits))  # {"loss": ...}
    ```
    """

    higher_is_better = {"loss": False}

    def __init__(self, loss, name="own_data_loss"):
        super().__init__(name)
        self.loss = loss

    def statistics(self, y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        return {
            "loss_sum": tf.reduce_sum(self.loss(y_true, y_pred)),
            "count": tf.reduce_sum(tf.cast(labels >= 0, tf.float32)),
        }

    def result(self, totals):
        return {"loss": safe_divide(totals["loss_sum"], totals["count"])}
