"""ComposedWeighting: TAG's PCGrad+UW baseline against a float64 numpy step."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import (
    ComposedWeighting,
    PCGrad,
    UncertaintyWeighting,
    get,
    parameter_gramian,
)

LR, MOMENTUM = 0.3, 0.9


def colab_layer():
    """The colab's baseline: UW (u0 = 1, exp(-2u), clip [0.01, 10]) then
    PCGrad in task order over every k, self included."""
    uw = UncertaintyWeighting(
        initial_log_variance=1.0, weight_exponent=2.0, clip=(0.01, 10.0)
    )
    layer = ComposedWeighting(uw, PCGrad(shuffle=False, include_self=True))
    layer.build(3)
    return layer


def problem():
    """Shared theta [4], fixed scalar heads h, L_i = mean((h_i x.theta -
    y_i)^2): three tasks whose targets pull theta apart."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 4))
    theta = rng.normal(size=4) * 0.3
    heads = np.array([1.0, -0.8, 0.6])
    direction = rng.normal(size=(3, 4))
    y = np.stack([x @ d for d in direction], axis=1)
    y[:, 1] *= -1.0
    return x, theta, heads, y


def numpy_losses_and_grads(x, theta, heads, y):
    residual = (x @ theta)[:, None] * heads[None] - y  # [N, K]
    losses = np.mean(residual**2, axis=0)
    grads = np.stack(
        [
            2.0 * np.mean(residual[:, i : i + 1] * heads[i] * x, axis=0)
            for i in range(3)
        ]
    )
    return losses, grads


def colab_step(theta, u, v_theta, v_u, x, heads, y):
    """One `train_pcgrad_step` of google-research `tag/celeba/CelebA.ipynb`
    in float64 (its `PCGrad.compute_gradients` ``proj_grad``: for every
    task, ``for k in range(num_tasks)`` with k = i included, subtract
    ``min(g.g_k / |g_k|^2, 0) g_k`` of the *original* scaled gradient g_k;
    its ``tf.random.shuffle(loss)`` result is discarded, so the order is the
    task order). Losses are ``L / exp(2 clip(u)) + clip(u)``; theta gets
    the sum of the projected scaled gradients, u the plain gradient of the
    summed UW loss; both follow momentum SGD (v = m v - lr g, p += v)."""
    losses, grads = numpy_losses_and_grads(x, theta, heads, y)
    c = np.clip(u, 0.01, 10.0)
    scale = np.exp(-2.0 * c)
    scaled = grads * scale[:, None]
    base = np.zeros_like(theta)
    for i in range(3):
        g = scaled[i].copy()
        for k in range(3):
            dot = g @ scaled[k] / (scaled[k] @ scaled[k])
            g -= min(dot, 0.0) * scaled[k]
        base += g
    inside = (u >= 0.01) & (u <= 10.0)
    grad_u = np.where(inside, 1.0 - 2.0 * scale * losses, 0.0)
    v_theta = MOMENTUM * v_theta - LR * base
    v_u = MOMENTUM * v_u - LR * grad_u
    return theta + v_theta, u + v_u, v_theta, v_u, base


def tf_step(layer, theta, x, heads, y):
    with tf.GradientTape(persistent=True) as tape:
        pred = tf.linalg.matvec(x, theta)[:, None] * heads[None]
        losses = tf.reduce_mean(tf.square(pred - y), axis=0)
        gramian = parameter_gramian(tape, losses, [theta])
        total = layer(losses, gramian=gramian, training=True)
    variables = [theta, layer.loss_weighting.log_variance]
    return tape.gradient(total, variables), variables


def test_pcgrad_uw_follows_the_colab_step_on_conflicting_gradients():
    """Three momentum-SGD steps of the colab's PCGrad+UW baseline (see
    `colab_step`) against the layer driven the way the trainer drives it
    (parameter Gramian of the unscaled losses, one scalar objective)."""
    x, theta0, heads, y = problem()
    _, grads = numpy_losses_and_grads(x, theta0, heads, y)
    gram = grads @ grads.T
    assert (gram < 0).sum() >= 2  # real conflicts, so PCGrad projects
    layer = colab_layer()
    theta = tf.Variable(theta0.astype("float32"))
    optimizer = tf.keras.optimizers.SGD(LR, momentum=MOMENTUM)
    xt, ht, yt = (tf.constant(a, tf.float32) for a in (x, heads, y))
    state = (theta0.copy(), np.ones(3), np.zeros(4), np.zeros(3))
    for _ in range(3):
        tf_grads, variables = tf_step(layer, theta, xt, ht, yt)
        theta_np, u_np, vt, vu, base = colab_step(*state, x, heads, y)
        np.testing.assert_allclose(
            tf_grads[0].numpy(), base, rtol=2e-4, atol=1e-6
        )
        optimizer.apply_gradients(zip(tf_grads, variables))
        state = (theta_np, u_np, vt, vu)
        np.testing.assert_allclose(
            theta.numpy(), theta_np, rtol=2e-4, atol=1e-6
        )
        np.testing.assert_allclose(
            layer.loss_weighting.log_variance.numpy(),
            u_np,
            rtol=1e-5,
            atol=1e-6,
        )


def test_combination_differs_from_either_part_alone():
    """The composed update is neither UW's scaled sum nor PCGrad on the
    unscaled gradients, and UW's scale enters PCGrad's projections."""
    x, theta0, heads, y = problem()
    _, grads = numpy_losses_and_grads(x, theta0, heads, y)
    u = np.array([0.2, 1.5, 0.7])
    layer = colab_layer()
    layer.loss_weighting.log_variance.assign(u.astype("float32"))
    theta = tf.Variable(theta0.astype("float32"))
    xt, ht, yt = (tf.constant(a, tf.float32) for a in (x, heads, y))
    got = tf_step(layer, theta, xt, ht, yt)[0][0].numpy()
    *_, want = colab_step(theta0, u, np.zeros(4), np.zeros(3), x, heads, y)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
    scale = np.exp(-2.0 * u)
    uw_only = scale @ grads
    pc = PCGrad(shuffle=False, include_self=True)
    pc.build(3)
    pc(tf.ones([3]), gramian=tf.constant(grads @ grads.T, tf.float64))
    pcgrad_only = pc.task_weights.numpy() @ grads
    for other in (uw_only, pcgrad_only):
        assert np.abs(got - other).max() > 1e-2 * np.abs(want).max()
    # Logged weights: PCGrad's coefficients on the scaled gradients times d.
    np.testing.assert_allclose(
        layer.task_weights.numpy() @ grads, want, rtol=2e-4, atol=1e-6
    )


def test_names_validation_and_config():
    layer = get("composed", loss_weighting="uw", gradient_weighting="mgda")
    assert layer.needs_gramian == "representation"
    layer.build(2)
    clone = ComposedWeighting.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="must need a Gramian"):
        ComposedWeighting("uw", "ew")
    with pytest.raises(ValueError, match="loss-only"):
        ComposedWeighting("pcgrad", "pcgrad")
    with pytest.raises(ValueError, match="gramian=None"):
        layer(tf.ones([2]))
    assert get("composed", gradients="representation").needs_gramian == (
        "representation"
    )
    with pytest.raises(ValueError, match="does not match"):
        ComposedWeighting("uw", PCGrad(), gradients="representation")
