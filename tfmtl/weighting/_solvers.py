"""Small fixed-iteration solvers on K x K problems, in TF ops only.

They run inside the traced, per-replica train step, so they avoid numpy and
data-dependent Python control flow; every replica receives the same Gramian
and therefore computes the same answer.
"""

import tensorflow as tf


def project_to_simplex(v):
    """Euclidean projection of ``v`` [K] onto the probability simplex.

    Sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et al. 2008).
    """
    k = tf.shape(v)[0]
    u = tf.sort(v, direction="DESCENDING")
    cumulative = tf.cumsum(u)
    index = tf.cast(tf.range(1, k + 1), v.dtype)
    support = u - (cumulative - 1.0) / index > 0
    rho = tf.reduce_max(tf.where(support, index, tf.ones_like(index)))
    theta = (tf.gather(cumulative, tf.cast(rho, tf.int32) - 1) - 1.0) / rho
    return tf.maximum(v - theta, 0.0)


def minimize_on_simplex(
    value_and_grad, num_tasks, iterations=200, backtracks=20, tolerance=1e-6
):
    """Minimises a smooth convex function over the simplex.

    Accelerated projected gradient (FISTA) with backtracking on the step
    size and adaptive restart, started at the barycentre. Stops early once
    an iteration moves no coordinate by more than `tolerance`: the solver
    runs inside every training step, and on well-conditioned problems it
    converges in a few dozen iterations rather than `iterations`.

    Args:
        value_and_grad: maps x [K] to (scalar value, gradient [K]).
        num_tasks: K (static).
        iterations: maximum number of outer iterations.
        backtracks: maximum halvings of the step per iteration.
        tolerance: stop when `max |x_{t+1} - x_t| <= tolerance`.

    Returns:
        The minimiser, float32 [K].
    """

    def fn(x):
        return value_and_grad(x)[0]

    x0 = tf.fill([num_tasks], 1.0 / num_tasks)

    def step(y, lipschitz):
        value, grad = value_and_grad(y)

        def trial(lip):
            new = project_to_simplex(y - grad / lip)
            diff = new - y
            bound = value + tf.reduce_sum(grad * diff)
            bound += 0.5 * lip * tf.reduce_sum(diff * diff)
            new_value = fn(new)
            too_long = new_value > bound + 1e-7 * tf.abs(value)
            return new, new_value, too_long

        def body(i, lip, new, new_value, too_long):
            del new, new_value, too_long
            lip = 2.0 * lip
            return (i + 1, lip, *trial(lip))

        _, lipschitz, new, new_value, _ = tf.while_loop(
            lambda i, lip, new, new_value, too_long: tf.logical_and(
                i < backtracks, too_long
            ),
            body,
            (tf.constant(0), lipschitz, *trial(lipschitz)),
        )
        return new, new_value, lipschitz

    def outer(t, x, x_value, y, momentum, lipschitz, moved):
        del moved
        new_x, new_value, lipschitz = step(y, lipschitz)
        # Adaptive restart (O'Donoghue & Candes 2015): drop the momentum
        # when the objective goes up.
        momentum = tf.where(new_value > x_value, 1.0, momentum)
        new_momentum = 0.5 * (1.0 + tf.sqrt(1.0 + 4.0 * momentum**2))
        new_y = new_x + (momentum - 1.0) / new_momentum * (new_x - x)
        moved = tf.reduce_max(tf.abs(new_x - x))
        return t + 1, new_x, new_value, new_y, new_momentum, lipschitz, moved

    _, x, *_ = tf.while_loop(
        lambda t, *state: tf.logical_and(t < iterations, state[-1] > tolerance),
        outer,
        (
            tf.constant(0),
            x0,
            fn(x0),
            x0,
            tf.constant(1.0),
            tf.constant(1e-3),
            tf.constant(float("inf")),
        ),
    )
    return x


@tf.function
def min_norm_coefficients(gramian, iterations=200):
    """Coefficients of the min-norm point of the convex hull of the rows.

    Solves ``min_{a in simplex} a^T G a``. For K = 2 the closed form
    ``a_1 = clip((G22 - G12) / (G11 + G22 - 2 G12), 0, 1)`` is used.
    """
    num_tasks = gramian.shape[0]
    scale = tf.maximum(tf.linalg.trace(gramian), 1e-20)
    g = gramian / scale
    if num_tasks == 1:
        return tf.ones([1])
    if num_tasks == 2:
        denom = g[0, 0] + g[1, 1] - 2.0 * g[0, 1]
        a = tf.math.divide_no_nan(g[1, 1] - g[0, 1], denom)
        a = tf.where(denom > 1e-12, tf.clip_by_value(a, 0.0, 1.0), 0.5)
        return tf.stack([a, 1.0 - a])

    def value_and_grad(a):
        ga = tf.linalg.matvec(g, a)
        return tf.reduce_sum(a * ga), 2.0 * ga

    return minimize_on_simplex(value_and_grad, num_tasks, iterations)
