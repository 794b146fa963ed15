"""Per-epoch inter-task affinity: sums and counts per epoch, checkpointed.

Reference: google-research `tag/celeba/CelebA.ipynb`, `train`: the colab
keeps `gradient_metrics[combined_task]`, a list with one entry per epoch,
each the epoch's mean gain `{target: gain}` over its training batches
(measured at every step there, so the mean over its measurements).
"""

import numpy as np
import tensorflow as tf


class AffinityHistory(tf.Module):
    """Affinity averaged within each epoch, `[epoch][target][source]`.

    A measurement at global step `s` (1-based, the step just taken)
    belongs to epoch `(s - 1) // steps_per_epoch` (0-based). The variables
    grow with the epochs and are saved with the run's checkpoint, so a
    resumed run continues the history.

    # compat: when early stopping fires, the colab drops the last
    # EARLY_STOP - 1 = 10 epochs from `gradient_metrics` (it keeps the
    # epochs up to the best one); here every measured epoch is kept and
    # the epochs are numbered, so a reader can cut at the best step
    # (`best_results.json`).

    Args:
        num_targets: K, the tasks whose loss is measured.
        num_sources: S, the lookahead sources (K single tasks first).
        steps_per_epoch: Training steps per epoch (int >= 1).

    Example:
    ```python
    history = AffinityHistory(2, 2, steps_per_epoch=100)
    history.add(1, np.eye(2))
    history.epochs()  # [(0, 1, array([[1., 0.], [0., 1.]]))]
    ```
    """

    def __init__(self, num_targets, num_sources, steps_per_epoch):
        super().__init__(name="affinity_history")
        steps_per_epoch = int(steps_per_epoch)
        if steps_per_epoch < 1:
            raise ValueError(
                f"steps_per_epoch must be >= 1, not {steps_per_epoch}"
            )
        self.steps_per_epoch = steps_per_epoch
        self.shape = (int(num_targets), int(num_sources))
        self.total = tf.Variable(
            np.zeros((0,) + self.shape),
            shape=tf.TensorShape((None,) + self.shape),
            trainable=False,
        )
        self.count = tf.Variable(
            np.zeros((0,), np.int64),
            shape=tf.TensorShape([None]),
            trainable=False,
        )
        # Epochs below this one are written to TensorBoard already.
        self.written = tf.Variable(0, dtype=tf.int64, trainable=False)

    def epoch_of(self, step):
        """0-based epoch of the 1-based global step `step`."""
        return (int(step) - 1) // self.steps_per_epoch

    def add(self, step, matrix):
        """Adds one `[target, source]` measurement taken at `step`."""
        matrix = np.asarray(matrix, np.float64)
        if matrix.shape != self.shape:
            raise ValueError(
                f"expected a {self.shape} matrix, got {matrix.shape}"
            )
        epoch = self.epoch_of(step)
        total, count = self.total.numpy(), self.count.numpy()
        if epoch >= len(count):
            grow = epoch + 1 - len(count)
            total = np.concatenate([total, np.zeros((grow,) + self.shape)])
            count = np.concatenate([count, np.zeros(grow, np.int64)])
        total[epoch] += matrix
        count[epoch] += 1
        self.total.assign(total)
        self.count.assign(count)

    def epochs(self):
        """`[(epoch, measurements, mean [target, source])]`, measured
        epochs only, in order."""
        total, count = self.total.numpy(), self.count.numpy()
        return [
            (e, int(count[e]), total[e] / count[e])
            for e in range(len(count))
            if count[e]
        ]

    def to_json(self, num_pairwise):
        """The file's `history` entry: pairwise `matrices` [E][K][K] and,
        when there are combined sources, `source_matrices` [E][K][S - K]."""
        epochs = self.epochs()
        out = {
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": [e for e, _, _ in epochs],
            "measurements": [n for _, n, _ in epochs],
            "matrices": [m[:, :num_pairwise].tolist() for _, _, m in epochs],
        }
        if self.shape[1] > num_pairwise:
            out["source_matrices"] = [
                m[:, num_pairwise:].tolist() for _, _, m in epochs
            ]
        return out
