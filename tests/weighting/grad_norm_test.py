"""GradNorm: the weights' gradient is the hand-computed GradNorm gradient."""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import GradNorm


def step(layer, losses, gramian):
    losses = tf.Variable(losses)
    with tf.GradientTape() as tape:
        total = layer(losses, gramian=tf.constant(gramian), training=True)
    grad_w, grad_l = tape.gradient(total, [layer.loss_weights, losses])
    return total.numpy(), grad_w.numpy(), grad_l.numpy()


def test_first_call_hand_computation():
    layer = GradNorm()
    layer.build(2)
    # ||g|| = (1, 3); w = 1; L(0) = L, so r = 1 and the target is the mean
    # weighted norm 2: L_grad = |1 - 2| + |3 - 2|.
    total, grad_w, grad_l = step(layer, [1.0, 2.0], np.diag([1.0, 9.0]))
    np.testing.assert_allclose(total, 3.0)  # the value is sum w L
    np.testing.assert_allclose(grad_w, [-1.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(grad_l, [1.0, 1.0])  # the network: w, only


def test_weights_renormalised_and_alpha_shapes_the_target():
    for alpha, expected in [(1.5, [2.0, -2.0]), (0.0, [0.0, 0.0])]:
        layer = GradNorm(alpha=alpha)
        layer.build(2)
        step(layer, [1.0, 2.0], np.diag([4.0, 4.0]))
        layer.loss_weights.assign([0.5, 0.5])  # an optimizer step
        # Inverse rates (0.5, 0.75) / 0.625 = (0.8, 1.2); weights are
        # renormalised to sum 2, so the weighted norms are (2, 2) and the
        # targets 2 * r^alpha: (1.43, 2.63) for alpha = 1.5.
        total, grad_w, grad_l = step(layer, [0.5, 1.5], np.diag([4.0, 4.0]))
        np.testing.assert_allclose(layer.task_weights.numpy(), [1.0, 1.0])
        np.testing.assert_allclose(grad_w, expected, atol=1e-6)
        np.testing.assert_allclose(total, 2.0)
        np.testing.assert_allclose(grad_l, [1.0, 1.0])


def test_renormalisation_keeps_the_ratio():
    layer = GradNorm()
    layer.build(2)
    layer.loss_weights.assign([2.0, 6.0])
    step(layer, [1.0, 1.0], np.eye(2))
    np.testing.assert_allclose(layer.task_weights.numpy(), [0.5, 1.5])
    np.testing.assert_allclose(layer.initial_losses.numpy(), [1.0, 1.0])
