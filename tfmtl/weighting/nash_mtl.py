"""Nash-MTL: the Nash bargaining solution between task gradients.

Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task
Learning as a Bargaining Game", ICML 2022 (arXiv:2202.01017). Reference
implementation checked against: AvivNavon/nash-mtl
``methods/weight_methods.py`` (``NashMTL``) and LibMTL
``LibMTL/weighting/Nash_MTL.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.weighting import Weighting, check_gradients


@tf.function
def nash_coefficients(gramian, iterations=20):
    """Solves ``G a = 1 / a`` (a > 0) by damped Newton; see NashMTL."""
    k = gramian.shape[0]
    eye = tf.eye(k)
    diagonal = tf.maximum(tf.linalg.diag_part(gramian), 1e-12)
    alpha = 1.0 / tf.sqrt(diagonal)  # exact when the gradients are orthogonal

    def body(t, alpha):
        grad = tf.linalg.matvec(gramian, alpha) - 1.0 / alpha
        hessian = gramian + eye * (1.0 / alpha**2)[None, :]
        direction = -tf.linalg.matvec(tf.linalg.pinv(hessian), grad)
        decrement = tf.sqrt(tf.maximum(-tf.reduce_sum(grad * direction), 0.0))
        # Self-concordant damping keeps alpha > 0 (Nesterov & Nemirovski).
        step = tf.where(decrement > 0.25, 1.0 / (1.0 + decrement), 1.0)
        return t + 1, tf.maximum(alpha + step * direction, 1e-12)

    _, alpha = tf.while_loop(
        lambda t, _: t < iterations, body, (tf.constant(0), alpha)
    )
    return alpha


@keras.saving.register_keras_serializable(package="tfmtl")
class NashMTL(Weighting):
    """Weights ``a > 0`` with ``G a = 1 / a`` (elementwise).

    The bargaining direction ``d = sum_i a_i g_i`` satisfies
    ``g_i . d = 1 / a_i``, i.e. ``(G a)_i = 1 / a_i``: the solution is a
    function of the Gramian only. Following the reference, the Gramian is
    first divided by its Frobenius norm and the weights of the normalised
    problem are used as they are.

    # compat: the reference solves a sequence of convex-concave (CCP)
    # subproblems with cvxpy/ECOS (up to ``optim_niter=20``), which cannot
    # run inside a traced TF step. ``G a = 1 / a`` is exactly the stationarity
    # condition of the strictly convex, self-concordant potential
    # ``f(a) = a^T G a / 2 - sum_i log a_i`` on a > 0, so we minimise ``f``
    # with a fixed number (20) of damped Newton steps on K x K matrices,
    # started at ``1 / sqrt(G_ii)``: quadratic convergence near the solution,
    # positivity guaranteed by the damping, identical on every replica. The
    # reference also clips the shared gradient norm to ``max_norm=1.0``;
    # leave that to the trainer's gradient clipping. Heads receive
    # ``a_i grad L_i`` as in the reference.

    Args:
        update_weights_every: solve every this many calls and reuse the
            weights in between (Nash-MTL-T; reference default 1).
        gradients: ``"parameters"`` (paper: representation gradients "can
            greatly reduce" performance) or ``"representation"``.
        solver_iterations: Newton iterations.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    nash = NashMTL()
    nash.build(2)
    nash(tf.constant([1.0, 1.0]), gramian=tf.constant([[1.0, 0.0],
                                                        [0.0, 4.0]]))
    # normalised G = diag(1, 4) / sqrt(17): a = 17**0.25 * (1, 1/2)
    ```

    Reference:
        Navon et al., ICML 2022, arXiv:2202.01017.
    """

    needs_gramian = "parameters"

    def __init__(
        self,
        update_weights_every=1,
        gradients="parameters",
        solver_iterations=20,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.update_weights_every = update_weights_every
        self.gradients = check_gradients(gradients)
        self.needs_gramian = gradients
        self.solver_iterations = solver_iterations

    def build(self, num_tasks):
        super().build(num_tasks)
        self.alpha = self.state_variable("alpha", "ones")

    def call(self, losses, gramian=None, training=None):
        gramian = self.check_gramian(gramian)
        frobenius = tf.maximum(tf.norm(gramian), 1e-20)
        if self.update_weights_every == 1:
            weights = nash_coefficients(
                gramian / frobenius, self.solver_iterations
            )
        else:
            weights = tf.cond(
                self.iterations % self.update_weights_every == 0,
                lambda: nash_coefficients(
                    gramian / frobenius, self.solver_iterations
                ),
                lambda: tf.convert_to_tensor(self.alpha),
            )
        if training is not False:
            self.alpha.assign(weights)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            update_weights_every=self.update_weights_every,
            gradients=self.gradients,
            solver_iterations=self.solver_iterations,
        )
        return config
