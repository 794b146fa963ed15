"""Certified float64 solvers for the K x K problems of gradient weighting.

They run inside the traced, per-replica train step, so they use TF ops only
(no numpy, no data-dependent Python control flow); every replica receives the
same Gramian and runs the same deterministic ops, hence gets the same answer.
All arithmetic is float64 whatever the training precision.

Two quadratic programs are solved exactly for K <= `MAX_ENUMERATED` by
enumerating the faces of the feasible set: on each support S the KKT
conditions are a linear system, solved by pseudo-inverse (batched over the
2^K - 1 supports); every candidate is then scored by its KKT residual, and the
feasible KKT point of lowest objective is returned. The enumeration is exact:
an optimum of minimal support has a nonsingular KKT system on its support
(otherwise a null direction of the system moves it, at equal objective, to a
smaller support). For larger K an accelerated projected gradient method runs
until its optimality certificate (KKT residual or Frank-Wolfe gap) falls
below the tolerance or an iteration cap; its support is then polished (the
KKT system solved on it), and the polished point is kept if it satisfies the
KKT conditions to the tolerance.
"""

import tensorflow as tf

MAX_ENUMERATED = 10
FLOAT64_TINY = 1e-300


def _supports(k):
    """All non-empty supports of range(k) as float64 masks [2^k - 1, k]."""
    masks = [[float((s >> i) & 1) for i in range(k)] for s in range(1, 2**k)]
    return tf.constant(masks, tf.float64)


def _select(candidates, objectives, residuals, tolerance):
    """Lowest objective among candidates with residual <= tolerance (the
    lowest residual if none qualifies). Batched over any leading axes of
    ``objectives`` [..., S] (``candidates`` [..., S, K], ``tolerance``
    [...])."""
    tolerance = tf.cast(tolerance, residuals.dtype)
    ok = residuals <= tf.expand_dims(tolerance, -1)
    best_ok = tf.argmin(tf.where(ok, objectives, float("inf")), axis=-1)
    best_residual = tf.argmin(residuals, axis=-1)
    index = tf.where(tf.reduce_any(ok, axis=-1), best_ok, best_residual)
    return tf.gather(candidates, index, batch_dims=len(index.shape))


def _support_of(x):
    """The support of ``x`` as a single mask [1, K]."""
    return tf.cast(x > 0.0, tf.float64)[None]


def _polish(x, faces, tolerance):
    """``x``, or the KKT point of its face if that has a lower residual
    (``faces`` of a single support, batched or not)."""
    candidates, _, residuals = faces
    candidate = tf.reshape(candidates, [-1, x.shape[0]])[0]
    return tf.where(tf.reshape(residuals, [-1])[0] <= tolerance, candidate, x)


def _masked(p, masks):
    """``P`` restricted to each support, identity elsewhere: [S, K, K]."""
    eye = tf.eye(p.shape[0], dtype=tf.float64)
    return (
        masks[:, :, None] * p[None] * masks[:, None, :]
        + (1.0 - masks)[:, :, None] * eye[None]
    )


def _nnqp_faces(p, q, masks):
    """KKT points of ``min x^T P x / 2 + q_b^T x`` on each support in
    ``masks`` [S, K], for every row ``q_b`` of ``q`` [B, K]: (x [B, S, K],
    objectives [B, S], KKT residuals [B, S]). The S pseudo-inverses are
    computed once and shared by the B right-hand sides."""
    pinv = tf.linalg.pinv(_masked(p, masks))
    rhs = -masks[None] * q[:, None, :]
    x = tf.maximum(tf.einsum("skl,bsl->bsk", pinv, rhs) * masks[None], 0.0)
    px = tf.einsum("kl,bsl->bsk", p, x)
    q = q[:, None, :]
    objectives = tf.reduce_sum(x * (0.5 * px + q), axis=-1)
    residuals = tf.reduce_max(tf.abs(tf.minimum(x, px + q)), axis=-1)
    return x, objectives, residuals


def _simplex_faces(g, masks):
    """KKT points of ``min_{a in simplex} a^T G a`` on each support:
    ``G_SS a_S = lambda 1, 1^T a_S = 1``; same outputs as `_nnqp_faces`."""
    n, k = masks.shape[0], g.shape[0]
    top = tf.concat([_masked(g, masks), -masks[:, :, None]], axis=2)
    bottom = tf.concat([masks, tf.zeros([n, 1], tf.float64)], 1)
    systems = tf.concat([top, bottom[:, None, :]], axis=1)
    rhs = tf.one_hot(tf.fill([n], k), k + 1, dtype=tf.float64)
    solution = tf.linalg.matvec(tf.linalg.pinv(systems), rhs)
    a = tf.maximum(solution[:, :k] * masks, 0.0)
    a = a / tf.maximum(tf.reduce_sum(a, 1, keepdims=True), FLOAT64_TINY)
    ga = tf.linalg.matvec(g[None], a)
    objectives = tf.reduce_sum(a * ga, axis=1)
    # KKT: (G a)_i >= a^T G a, with equality where a_i > 0.
    slack = ga - objectives[:, None]
    residuals = tf.reduce_max(tf.abs(tf.minimum(a, slack)), axis=1)
    return a, objectives, residuals


def _fista(value_and_grad, project, certificate, x0, tolerance, iterations):
    """Accelerated projected gradient with a two-way backtracking step and
    adaptive restart, stopped once ``certificate(x) <= tolerance``."""

    def step(y, lip):
        value, grad = value_and_grad(y)

        def trial(lip):
            new = project(y - grad / lip)
            diff = new - y
            bound = value + tf.reduce_sum(grad * diff)
            bound += 0.5 * lip * tf.reduce_sum(diff * diff)
            new_value = value_and_grad(new)[0]
            slack = 1e-12 * (tf.abs(value) + 1e-30)
            return new, new_value, new_value > bound + slack

        def body(i, lip, new, new_value, too_long):
            del new, new_value, too_long
            return (i + 1, 2.0 * lip, *trial(2.0 * lip))

        lip = 0.5 * lip  # let the step grow again
        _, lip, new, new_value, _ = tf.while_loop(
            lambda i, lip, new, new_value, too_long: tf.logical_and(
                i < 60, too_long
            ),
            body,
            (tf.constant(0), lip, *trial(lip)),
        )
        return new, new_value, lip

    def outer(t, x, x_value, y, momentum, lip, gap):
        del gap
        new_x, new_value, lip = step(y, lip)
        momentum = tf.where(  # adaptive restart
            new_value > x_value, tf.ones_like(momentum), momentum
        )
        new_momentum = 0.5 * (1.0 + tf.sqrt(1.0 + 4.0 * momentum**2))
        new_y = new_x + (momentum - 1.0) / new_momentum * (new_x - x)
        new_y = tf.where(new_value > x_value, new_x, new_y)
        return (
            t + 1,
            new_x,
            new_value,
            new_y,
            new_momentum,
            lip,
            certificate(new_x),
        )

    one = tf.constant(1.0, tf.float64)
    _, x, *_ = tf.while_loop(
        lambda t, *state: tf.logical_and(t < iterations, state[-1] > tolerance),
        outer,
        (
            tf.constant(0),
            x0,
            value_and_grad(x0)[0],
            x0,
            one,
            one,
            certificate(x0),
        ),
    )
    return x


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


def nonnegative_qp_residual(p, q, x):
    """KKT (natural) residual ``max_i |min(x_i, (P x + q)_i)|``."""
    return tf.reduce_max(tf.abs(tf.minimum(x, tf.linalg.matvec(p, x) + q)))


@tf.function
def nonnegative_qp(p, q, tolerance=1e-10, iterations=2000):
    """Solves ``min_{x >= 0} x^T P x / 2 + q^T x`` in float64.

    ``P`` must be symmetric positive semi-definite and the problem bounded
    (e.g. ``q`` in the range of ``P``). The problem is first divided by
    ``max_i P_ii`` (same minimiser). K <= `MAX_ENUMERATED`: exact
    enumeration of the supports (see the module docstring); larger K:
    accelerated projected gradient stopped at a KKT residual
    ``max_i |min(x_i, (P x + q)_i)| <= tolerance * (1 + max |q|)`` (scaled
    problem) or after `iterations`.

    Args:
        p: [K, K] symmetric PSD matrix (any float dtype; cast to float64).
        q: [K] linear term.
        tolerance: relative KKT-residual tolerance.
        iterations: iteration cap of the iterative solver (K > 10). For
            K > 10 and a rank-deficient P the cap can be reached before the
            tolerance (residual ~1e-6 seen at K = 12, rank 6); check
            `nonnegative_qp_residual` if that matters.

    Returns:
        The minimiser, float64 [K] (elementwise >= 0).
    """
    return nonnegative_qp_batch(
        p, tf.convert_to_tensor(q)[None], tolerance, iterations
    )[0]


@tf.function
def nonnegative_qp_batch(p, q, tolerance=1e-10, iterations=2000):
    """`nonnegative_qp` for B linear terms and one ``P``, in one solve.

    Row b of the result minimises ``x^T P x / 2 + q_b^T x`` over ``x >= 0``
    with the same scaling, tolerance (``tolerance * (1 + max |q_b|)`` per
    row) and certificate as `nonnegative_qp`. K <= `MAX_ENUMERATED`: the
    2^K - 1 support systems of ``P`` are factored once for all B rows (the
    cost of one solve); larger K: one iterative solve per row.

    Args:
        p: [K, K] symmetric PSD matrix (any float dtype; cast to float64).
        q: [B, K] linear terms, B static.
        tolerance: relative KKT-residual tolerance.
        iterations: iteration cap of the iterative solver (K > 10).

    Returns:
        The minimisers, float64 [B, K] (elementwise >= 0).
    """
    p = tf.cast(p, tf.float64)
    q = tf.cast(q, tf.float64)
    k = p.shape[0]
    p = 0.5 * (p + tf.transpose(p))
    scale = tf.maximum(tf.reduce_max(tf.linalg.diag_part(p)), FLOAT64_TINY)
    p, q = p / scale, q / scale
    tol = tolerance * (1.0 + tf.reduce_max(tf.abs(q), axis=-1))
    if k <= MAX_ENUMERATED:
        return _select(*_nnqp_faces(p, q, _supports(k)), tol)
    return tf.stack(
        [_iterative_qp(p, q[b], tol[b], iterations) for b in range(q.shape[0])]
    )


def _iterative_qp(p, q, tol, iterations):
    """FISTA on the scaled problem, then its support polished."""

    def value_and_grad(x):
        px = tf.linalg.matvec(p, x)
        return tf.reduce_sum(x * (0.5 * px + q)), px + q

    x = _fista(
        value_and_grad,
        lambda x: tf.maximum(x, 0.0),
        lambda x: nonnegative_qp_residual(p, q, x),
        tf.zeros([p.shape[0]], tf.float64),
        tol,
        iterations,
    )
    return _polish(x, _nnqp_faces(p, q[None], _support_of(x)), tol)


def simplex_gap(gramian, a):
    """Frank-Wolfe gap of ``min_{a in simplex} a^T G a`` at ``a``, halved:
    ``a^T G a - min_i (G a)_i`` (an upper bound on the excess objective)."""
    ga = tf.linalg.matvec(gramian, a)
    return tf.reduce_sum(a * ga) - tf.reduce_min(ga)


@tf.function
def min_norm_coefficients(gramian, iterations=2000, tolerance=1e-12):
    """Coefficients of the min-norm point of the convex hull of the rows.

    Solves ``min_{a in simplex} a^T G a`` in float64 on ``G / trace(G)``
    (same minimiser). K <= `MAX_ENUMERATED`: exact enumeration of the faces,
    each face's KKT system ``G_SS a_S = lambda 1, sum a_S = 1`` solved by
    pseudo-inverse; larger K: accelerated projected gradient stopped at a
    Frank-Wolfe gap ``a^T G a - min_i (G a)_i <= tolerance``.

    Args:
        gramian: [K, K] Gramian (any float dtype; cast to float64).
        iterations: iteration cap of the iterative solver (K > 10).
        tolerance: KKT-residual / gap tolerance on the normalised problem.

    Returns:
        float64 [K] on the simplex.
    """
    gramian = tf.cast(gramian, tf.float64)
    k = gramian.shape[0]
    if k == 1:
        return tf.ones([1], tf.float64)
    gramian = 0.5 * (gramian + tf.transpose(gramian))
    g = gramian / tf.maximum(tf.linalg.trace(gramian), FLOAT64_TINY)
    if k <= MAX_ENUMERATED:
        return _select(*_simplex_faces(g, _supports(k)), tolerance)

    def value_and_grad(a):
        ga = tf.linalg.matvec(g, a)
        return tf.reduce_sum(a * ga), 2.0 * ga

    a = _fista(
        value_and_grad,
        project_to_simplex,
        lambda a: simplex_gap(g, a),
        tf.fill([k], tf.constant(1.0 / k, tf.float64)),
        tolerance,
        iterations,
    )
    return _polish(a, _simplex_faces(g, _support_of(a)), tolerance)


def minimize_on_simplex(
    value_and_grad, num_tasks, iterations=2000, tolerance=1e-12
):
    """Minimises a convex function over the simplex in float64.

    Accelerated projected gradient (backtracking both ways, adaptive
    restart) from the barycentre, stopped once the Frank-Wolfe gap
    ``grad^T x - min_i grad_i`` (an upper bound on ``f(x) - min f``) is at
    most `tolerance`, or after `iterations`.

    Args:
        value_and_grad: maps float64 x [K] to (scalar value, gradient [K]).
        num_tasks: K (static).
        iterations: iteration cap.
        tolerance: Frank-Wolfe gap tolerance.

    Returns:
        The minimiser, float64 [K].
    """

    def gap(x):
        grad = value_and_grad(x)[1]
        return tf.reduce_sum(grad * x) - tf.reduce_min(grad)

    x0 = tf.fill([num_tasks], tf.constant(1.0 / num_tasks, tf.float64))
    return _fista(
        value_and_grad, project_to_simplex, gap, x0, tolerance, iterations
    )
