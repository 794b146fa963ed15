"""SDMGrad: stochastic direction-oriented multi-objective gradient descent.

Xiao, Ban & Ji, "Direction-oriented Multi-objective Learning: Simple and
Provable Stochastic Algorithms", NeurIPS 2023
(https://openreview.net/forum?id=4Ks8RPcXd9), Algorithm 1. Reference
implementations checked against: OptMN-Lab/sdmgrad and LibMTL
``LibMTL/weighting/SDMGrad.py`` (``SDMGrad.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting._solvers import project_to_simplex
from tfmtl.weighting.gramian_weighting import GramianWeighting

LEARNING_RATE = 5.0  # LibMTL's inner SGD: lr 5, momentum 0.5.
MOMENTUM = 0.5


def sdmgrad_inner(gramian, w, lamda, iterations):
    """LibMTL's inner loop on ``w`` (float64): SGD with momentum on
    ``w^T G w / 2 + lamda w^T G 1 / K``, projected on the simplex after
    every step, with ``G`` divided by (mean_i sqrt(G_ii))^2 + 1e-8."""
    diag = tf.maximum(tf.linalg.diag_part(gramian), 0.0)
    scale = tf.reduce_mean(tf.sqrt(diag))
    g = gramian / (scale**2 + 1e-8)
    mean_column = tf.reduce_mean(g, axis=1)
    buffer = None
    for _ in range(iterations):
        grad = tf.linalg.matvec(g, w) + lamda * mean_column
        # torch.optim.SGD: the first step's buffer is the gradient itself.
        buffer = grad if buffer is None else MOMENTUM * buffer + grad
        w = project_to_simplex(w - LEARNING_RATE * buffer)
    return w


@keras.saving.register_keras_serializable(package="tfmtl")
class SDMGrad(GramianWeighting):
    """MGDA-like weights regularised towards the mean gradient.

    SDMGrad solves ``min_{w in simplex} ||g_w||^2 / 2 + lamda g_w . g0``
    (``g_w = sum_i w_i g_i``, ``g0`` the mean gradient) by ``niter`` steps of
    projected SGD with momentum, warm-started from the previous call's
    ``w`` (state), and returns ``d = (g_w + lamda g0) / (1 + lamda)``, i.e.
    weights ``(w + lamda / K) / (1 + lamda)``: an exact Gramian form.

    Reads the parameter Gramian by default (LibMTL refuses representation
    gradients); ``gradients="representation"`` switches sources.

    # compat: the paper and LibMTL draw three independent batches per step
    # (zeta for g_w and g0, xi and xi' for the inner product
    # ``G = <g(xi), g(xi')>`` that makes the inner gradient unbiased). The
    # trainer computes one batch's Gramian, which serves all three: the
    # inner problem is then the deterministic one (a biased estimate of its
    # stochastic objective), at a third of the backward passes.

    Args:
        lamda: regularisation towards ``g0`` (LibMTL ``SDMGrad_lamda``,
            default 0.3).
        niter: inner iterations per call (LibMTL default 20).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    sdmgrad = SDMGrad()
    sdmgrad.build(2)
    sdmgrad(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights 1/2
    ```

    Reference:
        Xiao, Ban & Ji, NeurIPS 2023,
        https://openreview.net/forum?id=4Ks8RPcXd9.
    """

    default_gradients = "parameters"

    def __init__(self, lamda=0.3, niter=20, **kwargs):
        super().__init__(**kwargs)
        self.lamda = float(lamda)
        self.niter = int(niter)

    def build(self, num_tasks):
        super().build(num_tasks)
        self.simplex_weights = self.state_variable(
            "simplex_weights",
            keras.initializers.Constant(1.0 / self.num_tasks),
            dtype="float64",
        )

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        w = sdmgrad_inner(
            gramian,
            tf.convert_to_tensor(self.simplex_weights),
            self.lamda,
            self.niter,
        )
        if training is not False:
            self.simplex_weights.assign(w)
        weights = (w + self.lamda / self.num_tasks) / (1.0 + self.lamda)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(lamda=self.lamda, niter=self.niter)
        return config
