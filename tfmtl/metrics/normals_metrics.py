"""Angular error statistics of surface-normal predictions.

Mean, median and root-mean-square angle and the percentage of pixels within
11.25°, 22.5°, 30° and 45°, pooled over the valid pixels of the evaluation
set, as the evaluation code of NDDR-CNN (`eval_multiple_tasks.py`), MTL-NAS
(`core/tasks.py::NormalTask.aggregate_metric`) and AdaShare (`test.py`).
"""

import numpy as np
import tensorflow as tf

from tfmtl.metrics.metric import Metric, safe_divide

_THRESHOLDS = (
    ("within_11.25", 11.25),
    ("within_22.5", 22.5),
    ("within_30", 30.0),
    ("within_45", 45.0),
)


class NormalsMetrics(Metric):
    """Angular error of normals, with a summable histogram for the median.

    The angle between prediction p and label n is computed as
    atan2(|p x n|, p . n) in degrees, which equals
    arccos(cos(p, n)) (both vectors are effectively L2-normalised) but stays
    accurate for small angles. A zero-length prediction counts as 90° (the
    references' cosine similarity is then 0). Pixels whose label is all zero
    are invalid and left out: the references drop the pixels whose raw
    label is 255 in all three channels, which the NYUv2 sources
    (`tfmtl.data.nyuv2`, `tfmtl.data.nyuv2_list`) map to the zero vector.

    * `mean_angle`: exact mean angle (degrees).
    * `rmse_angle`: exact root-mean-square angle, `sqrt(mean(angle**2))`,
      from the summed squared angles.
    * `median_angle`: median angle read from a histogram of `num_bins` equal
      bins over [0°, 180°]; inside a bin the angles are taken as uniformly
      spread. The error is below one bin width (180 / `num_bins` degrees,
      0.01° by default), because each order statistic the median needs is
      located in its exact bin.
    * `within_11.25`, `within_22.5`, `within_30`, `within_45`: exact
      percentage (0-100) of pixels with angle <= threshold (the references'
      `np.less_equal`).

    Args:
        num_bins: number of histogram bins over [0, 180] degrees.
        name: name of the metric set.

    Example:

    ```python
    metric = NormalsMetrics()
    stats = metric.statistics(normal_labels, normal_predictions)
    metric.result(accumulate({}, stats))  # {"median_angle": ..., ...}
    ```

    Reference:
        Gao et al., "NDDR-CNN", CVPR 2019 (`eval_multiple_tasks.py` of
        github.com/ethanygao/NDDR-CNN); Gao et al., "MTL-NAS", CVPR 2020
        (`core/tasks.py` and `core/utils/metrics.py::compute_angle` of
        github.com/bhpfelix/MTLNAS); Sun et al., "AdaShare", NeurIPS 2020.
    """

    higher_is_better = {
        "mean_angle": False,
        "median_angle": False,
        "rmse_angle": False,
        "within_11.25": True,
        "within_22.5": True,
        "within_30": True,
        "within_45": True,
    }

    def __init__(self, num_bins=18000, name="normals"):
        super().__init__(name)
        self.num_bins = num_bins

    @property
    def bin_width(self):
        """Width of one histogram bin in degrees (the median's resolution)."""
        return 180.0 / self.num_bins

    def statistics(self, y_true, y_pred):
        """Angle sum, counts and angle histogram of one batch.

        Args:
            y_true: float tensor [B, H, W, 3] of unit normals; all-zero marks
                an invalid pixel.
            y_pred: float tensor [B, H, W, 3], any float dtype, any length.

        Returns:
            dict with float32 `angle_sum` and `angle_squared_sum`, int32
            `count`, the int32 counts
            of the `within_*` keys and int32 `histogram` [num_bins].
        """
        # compat: AdaShare / MTL-NAS score NYUv2 normals in the encoded uint8
        # space. Angles are scale-invariant, so labels may be unit vectors
        # (NYUv2's 'decoded' encoding) or the reference's encoded vectors
        # (its 'adashare' encoding: the reference's numbers); only the zero
        # vector marks an invalid pixel.
        labels = tf.cast(y_true, tf.float32)
        predictions = tf.cast(y_pred, tf.float32)
        valid = tf.reduce_any(tf.not_equal(labels, 0.0), axis=-1)
        cross = tf.norm(tf.linalg.cross(predictions, labels), axis=-1)
        dot = tf.reduce_sum(predictions * labels, axis=-1)
        angle = tf.math.atan2(cross, dot) * (180.0 / np.pi)
        has_direction = tf.reduce_any(tf.not_equal(predictions, 0.0), axis=-1)
        angle = tf.where(has_direction, angle, 90.0)
        angle = tf.where(valid, angle, 0.0)

        stats = {
            "angle_sum": tf.reduce_sum(angle),
            "angle_squared_sum": tf.reduce_sum(tf.square(angle)),
            "count": tf.reduce_sum(tf.cast(valid, tf.int32)),
        }
        for key, threshold in _THRESHOLDS:
            within = valid & (angle <= threshold)
            stats[key] = tf.reduce_sum(tf.cast(within, tf.int32))
        index = tf.cast(tf.floor(angle / self.bin_width), tf.int32)
        index = tf.clip_by_value(index, 0, self.num_bins - 1)
        # Invalid pixels go to one extra bin that is dropped afterwards.
        index = tf.where(valid, index, self.num_bins)
        histogram = tf.math.bincount(
            tf.reshape(index, [-1]),
            minlength=self.num_bins + 1,
            maxlength=self.num_bins + 1,
            dtype=tf.int32,
        )
        stats["histogram"] = histogram[: self.num_bins]
        return stats

    def _value_at_rank(self, cumulative, histogram, rank):
        """Angle of the `rank`-th smallest valid pixel (0-based), from bins."""
        k = int(np.searchsorted(cumulative, rank, side="right"))
        before = cumulative[k] - histogram[k]
        fraction = (rank - before + 0.5) / histogram[k]
        return (k + fraction) * self.bin_width

    def result(self, totals):
        count = int(totals["count"])
        results = {
            "mean_angle": safe_divide(totals["angle_sum"], count),
            "median_angle": 0.0,
            "rmse_angle": float(
                np.sqrt(safe_divide(totals["angle_squared_sum"], count))
            ),
        }
        if count > 0:
            histogram = np.asarray(totals["histogram"], dtype=np.int64)
            cumulative = np.cumsum(histogram)
            low = self._value_at_rank(cumulative, histogram, (count - 1) // 2)
            high = self._value_at_rank(cumulative, histogram, count // 2)
            results["median_angle"] = 0.5 * (low + high)
        for key, _ in _THRESHOLDS:
            results[key] = 100.0 * safe_divide(totals[key], count)
        return results
