"""Mean cosine similarity of surface normals (Taskonomy's normals score).

AdaShare reports Taskonomy normals as the mean cosine similarity between
prediction and label, pooled over the evaluation set (reference notes
adashare_taps.md §A3), higher is better.
"""

import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide

_EPSILON = 1e-12


class NormalsCosine(Metric):
    """Mean cosine similarity over the valid pixels of the whole set.

    Both vectors are L2-normalised; pixels whose label is all zero are
    invalid and left out.

    Args:
        name: name of the metric set.

    Example:

    ```python
    metric = NormalsCosine()
    stats = metric.statistics(normal_labels, normal_predictions)
    metric.result(accumulate({}, stats))  # {"cosine": ...}
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (Taskonomy table).
    """

    higher_is_better = {"cosine": True}

    def __init__(self, name="normals_cosine"):
        super().__init__(name)

    def statistics(self, y_true, y_pred):
        """Cosine sum and valid-pixel count of one batch.

        Args:
            y_true: float tensor [B, H, W, 3]; all-zero marks invalid.
            y_pred: float tensor [B, H, W, 3], any float dtype.

        Returns:
            dict with float32 `cosine_sum` and int32 `count`.
        """
        labels = tf.cast(y_true, tf.float32)
        predictions = tf.cast(y_pred, tf.float32)
        valid = tf.reduce_any(tf.not_equal(labels, 0.0), axis=-1)
        cosine = tf.reduce_sum(
            tf.math.l2_normalize(predictions, -1, epsilon=_EPSILON)
            * tf.math.l2_normalize(labels, -1, epsilon=_EPSILON),
            axis=-1,
        )
        return {
            "cosine_sum": tf.reduce_sum(tf.where(valid, cosine, 0.0)),
            "count": tf.reduce_sum(tf.cast(valid, tf.int32)),
        }

    def result(self, totals):
        return {"cosine": safe_divide(totals["cosine_sum"], totals["count"])}
