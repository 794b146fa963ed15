"""FairGrad: alpha-fair resource allocation among the tasks.

Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024
(https://openreview.net/forum?id=KLmWRMg6nL). Reference implementations
checked against: OptMN-Lab/fairgrad and LibMTL ``LibMTL/weighting/FairGrad.py``
(``FairGrad.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting


def _potential(gramian, w, alpha):
    """``w^T G w / 2 - sum_i h(w_i)`` with ``h' = w^(-1/alpha)``."""
    if alpha == 1.0:
        h = tf.math.log(w)
    else:
        h = w ** (1.0 - 1.0 / alpha) / (1.0 - 1.0 / alpha)
    return 0.5 * tf.reduce_sum(
        w * tf.linalg.matvec(gramian, w)
    ) - tf.reduce_sum(h)


@tf.function
def fair_grad_weights(gramian, alpha, iterations=100, tolerance=1e-12):
    """Solves ``G w = w^(-1/alpha)``, ``w > 0``, in float64.

    The equation is the stationarity condition of the strictly convex
    potential ``w^T G w / 2 - sum_i h(w_i)`` (``h = log`` for alpha = 1,
    else ``w^(1 - 1/alpha) / (1 - 1/alpha)``), minimised by damped Newton
    steps (fraction-to-boundary 0.99, Armijo backtracking) from ``w = 1`` on
    ``G / s`` with ``s`` the mean diagonal; the root of ``G`` is then
    ``s^(-alpha / (1 + alpha))`` times the root of ``G / s``.
    """
    k = gramian.shape[0]
    scale = tf.maximum(tf.linalg.trace(gramian) / k, 1e-300)
    g = gramian / scale

    def residual(w):
        return tf.linalg.matvec(g, w) - w ** (-1.0 / alpha)

    def body(t, w, res):
        del res
        grad = residual(w)
        hessian = g + tf.linalg.diag(w ** (-1.0 / alpha - 1.0) / alpha)
        step = -tf.linalg.solve(hessian, grad[:, None])[:, 0]
        ratio = tf.where(step < 0.0, -w / tf.minimum(step, -1e-300), 1e300)
        size = tf.minimum(0.99 * tf.reduce_min(ratio), 1.0)
        value = _potential(g, w, alpha)
        slope = tf.reduce_sum(grad * step)

        def shorter(i, size):
            return i + 1, 0.5 * size

        def too_long(i, size):
            new = _potential(g, w + size * step, alpha)
            return tf.logical_and(i < 60, new > value + 1e-4 * size * slope)

        _, size = tf.while_loop(too_long, shorter, (tf.constant(0), size))
        new_w = w + size * step
        return t + 1, new_w, tf.reduce_max(tf.abs(residual(new_w)))

    w0 = tf.ones([k], tf.float64)
    _, w, _ = tf.while_loop(
        lambda t, w, res: tf.logical_and(t < iterations, res > tolerance),
        body,
        (tf.constant(0), w0, tf.reduce_max(tf.abs(residual(w0)))),
    )
    return w * scale ** (-alpha / (1.0 + alpha))


@keras.saving.register_keras_serializable(package="tfmtl")
class FairGrad(GramianWeighting):
    """Weights solving ``G w = w^(-1/alpha)``: alpha-fair utilities.

    FairGrad picks ``d = sum_i w_i g_i`` maximising the alpha-fair utility
    of the task improvements ``g_i . d``; its optimality condition is
    ``(G w)_i = w_i^(-1/alpha)`` with ``w > 0``: an exact Gramian form,
    solved by damped Newton on its convex potential (see
    `fair_grad_weights`). alpha = 1 is proportional fairness
    (``(G w)_i w_i = 1``); alpha -> infinity approaches MGDA-like max-min
    fairness.

    Reads the parameter Gramian by default (LibMTL refuses representation
    gradients); ``gradients="representation"`` switches sources.

    # compat: LibMTL solves the equation with SciPy ``least_squares`` on
    # the residual (bounds w >= 0, start 1/K); we minimise the potential,
    # whose minimiser is the same root when it exists (G positive
    # definite). For a singular G with a nonnegative null vector the
    # equation has no root; both solvers then stop at a point of small
    # residual, and ours at the iteration cap.

    Args:
        alpha: fairness parameter (LibMTL default 1.0).
        iterations: Newton iteration cap.
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    fair_grad = FairGrad()
    fair_grad.build(2)
    fair_grad(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights (1, 1)
    ```

    Reference:
        Ban & Ji, ICML 2024, https://openreview.net/forum?id=KLmWRMg6nL.
    """

    default_gradients = "parameters"

    def __init__(self, alpha=1.0, iterations=100, **kwargs):
        super().__init__(**kwargs)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)
        self.newton_iterations = int(iterations)

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        weights = fair_grad_weights(gramian, self.alpha, self.newton_iterations)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, iterations=self.newton_iterations)
        return config
