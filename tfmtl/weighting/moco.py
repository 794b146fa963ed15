"""MoCo: multi-objective gradient correction.

Fernando et al., "Mitigating Gradient Bias
in Multi-objective Learning: A Provably Convergent Approach", ICLR 2023
(https://openreview.net/forum?id=dLAYGdKTi2), Algorithm 1. Reference
implementation checked against: LibMTL ``LibMTL/weighting/MoCo.py``
(``MoCo.backward``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.weighting import global_losses


@keras.saving.register_keras_serializable(package="tfmtl")
class MoCo(GramianWeighting):
    """Tracked gradients ``y_i`` combined by softmax-updated weights.

    LibMTL's MoCo rescales every gradient to ``h_i = L_i g_i / ||g_i||``,
    tracks ``y_i <- y_i - beta_t (y_i - h_i)`` (``y = 0`` at the start), updates
    ``lambda <- softmax(lambda - gamma_t (Y Y^T + rho I) lambda)`` from
    ``lambda = 1 / K``, and steps along ``Y^T lambda``;
    ``beta_t = beta / t^beta_sigma``, ``gamma_t = gamma / t^gamma_sigma``.

    # compat: ``y_i`` is per-parameter state (a D-vector per task), which
    # no K x K Gramian carries. We track its length ``b_i`` along the
    # current unit gradient ``u_i = g_i / ||g_i||`` (``b <- b - beta_t (b -
    # ||h||)``), so ``Y Y^T = diag(b) C diag(b)`` with ``C`` the cosine
    # matrix of the current gradients and ``Y^T lambda = sum_i lambda_i b_i
    # u_i``, i.e. ``w_i = lambda_i b_i / ||g_i||``. This equals the
    # reference whenever every task's gradient direction is the same across
    # steps (magnitudes and losses may change).

    Reads the parameter Gramian by default (LibMTL refuses representation
    gradients); ``gradients="representation"`` switches sources.

    Args:
        beta: tracking rate of ``y`` (LibMTL ``MoCo_beta``, default 0.5).
        beta_sigma: its decay exponent (default 0.5).
        gamma: step of ``lambda`` (default 0.1).
        gamma_sigma: its decay exponent (default 0.5).
        rho: L2 regularisation of the ``lambda`` update (default 0).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    moco = MoCo()
    moco.build(2)
    moco(tf.constant([1.0, 1.0]), gramian=tf.eye(2))
    ```

    Reference:
        Fernando et al., ICLR 2023,
        https://openreview.net/forum?id=dLAYGdKTi2.
    """

    default_gradients = "parameters"

    def __init__(
        self,
        beta=0.5,
        beta_sigma=0.5,
        gamma=0.1,
        gamma_sigma=0.5,
        rho=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.gamma = float(gamma)
        self.gamma_sigma = float(gamma_sigma)
        self.rho = float(rho)

    def build(self, num_tasks):
        super().build(num_tasks)
        self.tracked_norms = self.state_variable(
            "tracked_norms", "zeros", dtype="float64"
        )
        self.lambdas = self.state_variable(
            "lambdas",
            keras.initializers.Constant(1.0 / self.num_tasks),
            dtype="float64",
        )

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        current = tf.cast(tf.stop_gradient(global_losses(losses)), tf.float64)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gramian), 0.0))
        inverse_norms = tf.math.divide_no_nan(tf.ones_like(norms), norms)
        cosines = inverse_norms[:, None] * gramian * inverse_norms[None, :]
        step = tf.cast(self.iterations + 1, tf.float64)
        beta = self.beta / step**self.beta_sigma
        gamma = self.gamma / step**self.gamma_sigma
        h_norms = current * norms / (norms + 1e-8)
        tracked = tf.convert_to_tensor(self.tracked_norms)
        tracked = tracked - beta * (tracked - h_norms)
        yy = tracked[:, None] * cosines * tracked[None, :]
        yy += self.rho * tf.eye(self.num_tasks, dtype=tf.float64)
        lambdas = tf.convert_to_tensor(self.lambdas)
        lambdas = tf.nn.softmax(lambdas - gamma * tf.linalg.matvec(yy, lambdas))
        if training is not False:
            self.tracked_norms.assign(tracked)
            self.lambdas.assign(lambdas)
        weights = lambdas * tracked * inverse_norms
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            beta=self.beta,
            beta_sigma=self.beta_sigma,
            gamma=self.gamma,
            gamma_sigma=self.gamma_sigma,
            rho=self.rho,
        )
        return config
