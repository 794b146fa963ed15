"""Nash-MTL: the Nash bargaining solution between task gradients.

Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task
Learning as a Bargaining Game", ICML 2022 (arXiv:2202.01017). Reference
implementations read: AvivNavon/nash-mtl ``methods/weight_methods.py``
(``NashMTL``) and LibMTL ``LibMTL/weighting/Nash_MTL.py``.
"""

import keras
import tensorflow as tf

from tfmtl.weighting.gramian_weighting import GramianWeighting


@tf.function
def nash_coefficients(gramian, iterations=100, tolerance=1e-20):
    """Solves ``G a = 1 / a`` (a > 0) in float64 by damped Newton.

    Minimises the self-concordant ``f(a) = a^T G a / 2 - sum_i log a_i``
    (whose stationarity condition is ``G a = 1 / a``) on ``G / ||G||_F`` and
    rescales the solution by ``||G||_F^(-1/2)``, which solves the raw
    problem: if ``(G / n) b = 1 / b`` then ``a = b / sqrt(n)`` satisfies
    ``G a = 1 / a``. Each Newton system (K x K, positive definite) is solved
    by ``tf.linalg.solve`` in float64. Stops when the squared Newton
    decrement ``lambda^2 = -grad . step`` (``f(a) - min f <= lambda^2``
    once ``lambda < 0.68``) is at most `tolerance`, or after `iterations`.

    Args:
        gramian: [K, K] Gramian (cast to float64); it must be nonsingular
            (linearly independent gradients), as in the paper.
        iterations: maximum Newton steps.
        tolerance: stop when the squared Newton decrement is below this.

    Returns:
        float64 [K], the positive solution of ``G a = 1 / a``.
    """
    gramian = tf.cast(gramian, tf.float64)
    frobenius = tf.maximum(tf.norm(gramian), 1e-300)
    g = gramian / frobenius
    diagonal = tf.maximum(tf.linalg.diag_part(g), 1e-300)
    beta = 1.0 / tf.sqrt(diagonal)  # exact when the gradients are orthogonal

    def body(t, beta, decrement2):
        del decrement2
        grad = tf.linalg.matvec(g, beta) - 1.0 / beta
        hessian = g + tf.linalg.diag(1.0 / beta**2)
        direction = -tf.linalg.solve(hessian, grad[:, None])[:, 0]
        decrement2 = tf.maximum(-tf.reduce_sum(grad * direction), 0.0)
        decrement = tf.sqrt(decrement2)
        # Damped Newton on a self-concordant function (Nesterov &
        # Nemirovski): the step 1 / (1 + lambda) keeps beta > 0.
        step = tf.where(decrement > 0.25, 1.0 / (1.0 + decrement), 1.0)
        beta = tf.maximum(beta + step * direction, 1e-300)
        return t + 1, beta, decrement2

    _, beta, _ = tf.while_loop(
        lambda t, beta, decrement2: tf.logical_and(
            t < iterations, decrement2 > tolerance
        ),
        body,
        (tf.constant(0), beta, tf.constant(float("inf"), tf.float64)),
    )
    return beta / tf.sqrt(frobenius)


@keras.saving.register_keras_serializable(package="tfmtl")
class NashMTL(GramianWeighting):
    """Weights ``a > 0`` with ``G a = 1 / a`` (elementwise).

    The bargaining direction ``d = sum_i a_i g_i`` satisfies
    ``g_i . d = 1 / a_i``, i.e. ``(G a)_i = 1 / a_i``: the solution is a
    function of the Gramian only. It is the solution of the raw problem, as
    in the reference: there the Gramian is divided by its Frobenius norm
    ``n`` but the constraint ``log(a_i n) + log((G a)_i / n) >= 0`` restores
    it, so ``d`` is invariant to the scale of the Gramian only through
    ``a -> a / s`` when the gradients scale by ``s`` (``d`` unchanged).

    # compat: the reference solves a sequence of convex-concave (CCP)
    # subproblems with cvxpy/ECOS (up to ``optim_niter=20``, warm-started at
    # the previous step's ``a``), which cannot run inside a traced TF step.
    # ``G a = 1 / a`` is exactly the stationarity condition of the strictly
    # convex, self-concordant ``f(a) = a^T G a / 2 - sum_i log a_i``, so we
    # run damped Newton on ``f`` in float64 to a squared Newton decrement
    # below 1e-20 (`nash_coefficients`), identical on every replica.
    # ``max_norm`` rescales the weights so that ``||d|| <= max_norm``; the
    # reference clips only the shared parameters' gradient (its default is
    # ``max_norm=1.0``; ours is None, i.e. left to the trainer), whereas
    # scaling the weights also scales the heads' gradients. Heads receive
    # ``a_i grad L_i`` as in the reference.

    Args:
        update_weights_every: solve every this many calls and reuse the
            weights in between (Nash-MTL-T; reference default 1).
        gradients: ``"parameters"`` (default; paper: representation
            gradients "can greatly reduce" performance) or
            ``"representation"``.
        solver_iterations: maximum Newton iterations.
        max_norm: None or a positive float: scale the weights down so that
            ``||d|| = sqrt(a^T G a) <= max_norm``.
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
    # a = (1, 1/2): g_i . d = G_ii a_i = 1 / a_i
    ```

    Reference:
        Navon et al., ICML 2022, arXiv:2202.01017.
    """

    default_gradients = "parameters"

    def __init__(
        self,
        update_weights_every=1,
        gradients="parameters",
        solver_iterations=100,
        max_norm=None,
        **kwargs,
    ):
        super().__init__(gradients=gradients, **kwargs)
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"max_norm must be None or > 0, got {max_norm}")
        self.update_weights_every = update_weights_every
        self.solver_iterations = solver_iterations
        self.max_norm = max_norm

    def build(self, num_tasks):
        super().build(num_tasks)
        self.alpha = self.state_variable("alpha", "ones")

    def solve(self, gramian):
        alpha = nash_coefficients(gramian, self.solver_iterations)
        if self.max_norm is not None:
            norm = tf.sqrt(
                tf.maximum(
                    tf.reduce_sum(alpha * tf.linalg.matvec(gramian, alpha)),
                    0.0,
                )
            )
            alpha *= tf.minimum(
                1.0, tf.math.divide_no_nan(float(self.max_norm), norm)
            )
        return tf.cast(alpha, tf.float32)

    def call(self, losses, gramian=None, training=None):
        gramian = self.gramian64(gramian)
        if self.update_weights_every == 1:
            weights = self.solve(gramian)
        else:
            weights = tf.cond(
                self.iterations % self.update_weights_every == 0,
                lambda: self.solve(gramian),
                lambda: tf.convert_to_tensor(self.alpha),
            )
        if training is not False:
            self.alpha.assign(weights)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            update_weights_every=self.update_weights_every,
            solver_iterations=self.solver_iterations,
            max_norm=self.max_norm,
        )
        return config
