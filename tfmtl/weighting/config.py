"""ConFIG: conflict-free gradient update.

Liu, Chu & Thuerey, "ConFIG: Towards Conflict-free Training of Physics
Informed Neural Networks" (arXiv:2408.11104), Eq. 2. Reference
implementations checked against: tum-pbs/ConFIG (``conflictfree``) and
TorchJD ``src/torchjd/aggregation/_config.py`` (``ConFIG.forward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting


def config_coefficients(gramian, pref, rcond):
    """ConFIG's coefficients ``w`` (``d = J^T w``) from ``G`` (float64).

    With unit rows ``U = N J`` (``N = diag(1 / ||g_i||)``, 0 for a zero
    row), ``pinv(U) p = U^T (U U^T)^+ p`` and ``U U^T = N G N``, so the
    best direction is ``J^T c`` with ``c = N (N G N)^+ p``. Then
    ``d = (1^T G c / c^T G c) J^T c`` (the length ``sum_i g_i . unit``
    times the unit direction).
    """
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 0.0))
    inverse_norms = tf.math.divide_no_nan(tf.ones_like(norms), norms)
    units = inverse_norms[:, None] * gramian * inverse_norms[None, :]
    values, vectors = tf.linalg.eigh(0.5 * (units + tf.transpose(units)))
    keep = values > rcond**2 * tf.reduce_max(values)
    inverse = tf.where(keep, 1.0 / tf.where(keep, values, 1.0), 0.0)
    a = tf.linalg.matvec(
        vectors, inverse * tf.linalg.matvec(vectors, pref, transpose_a=True)
    )
    c = inverse_norms * a
    gc = tf.linalg.matvec(gramian, c)
    squared = tf.reduce_sum(c * gc)
    # TorchJD's F.normalize divides by max(||best||, 1e-12).
    length = tf.reduce_sum(gc) / tf.maximum(squared, 1e-24)
    return length * c


@keras.saving.register_keras_serializable(package="tfmtl")
class ConFIG(GramianWeighting):
    """The direction with equal cosine to every task, scaled by their sum.

    ConFIG takes the unit gradients ``u_i = g_i / ||g_i||``, the direction
    ``b = pinv(U) p`` (``p`` the preference vector, default all ones) that
    has ``u_i . b = p_i`` when the gradients are independent, and returns
    ``d = (sum_i g_i . b_hat) b_hat`` with ``b_hat = b / ||b||``. ``b`` is a
    combination of the ``u_i`` (``pinv(U)`` maps into the row space of U),
    so ``d = sum_i w_i g_i`` with ``w`` from the Gramian exactly (see
    `config_coefficients`). With linearly independent gradients every
    ``g_i . d`` is nonnegative (equal cosines).

    Reads the parameter Gramian by default (the paper and TorchJD use the
    gradients of all shared parameters); ``gradients="representation"``
    switches sources.

    # compat: the pseudo-inverse drops the directions of ``U`` whose
    # singular value is below ``rcond`` times the largest (TorchJD: torch's
    # default ``max(K, D) eps``, about 1e-5 in float32 for D = 64). The
    # Gramian arrives in float32, whose rounding (about 1e-7 of its largest
    # eigenvalue) swamps singular values below ~3e-4 of the largest, so the
    # default cut is 1e-3: below it the reference's direction is noise
    # anyway.

    Args:
        pref_vector: sequence of K floats, or None for all ones (TorchJD's
            default, the sum weighting).
        rcond: relative singular-value cut of the pseudo-inverse.
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    config = ConFIG()
    config.build(2)
    config(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights (1, 1)
    ```

    Reference:
        Liu, Chu & Thuerey, arXiv:2408.11104.
    """

    default_gradients = "parameters"

    def __init__(self, pref_vector=None, rcond=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.pref_vector = (
            None if pref_vector is None else [float(p) for p in pref_vector]
        )
        self.rcond = rcond

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        k = self.num_tasks
        if self.pref_vector is None:
            pref = tf.ones([k], tf.float64)
        else:
            if len(self.pref_vector) != k:
                raise ValueError(f"pref_vector needs {k} entries")
            pref = tf.constant(self.pref_vector, tf.float64)
        weights = config_coefficients(gramian, pref, self.rcond)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(pref_vector=self.pref_vector, rcond=self.rcond)
        return config
