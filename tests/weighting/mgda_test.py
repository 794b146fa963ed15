"""MGDA: closed form for two tasks, brute force for three."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import MGDA


def weights_for(jacobian, losses=None, **kwargs):
    jacobian = np.asarray(jacobian, "float32")
    k = len(jacobian)
    layer = MGDA(**kwargs)
    layer.build(k)
    losses = np.ones(k, "float32") if losses is None else losses
    layer(
        tf.constant(losses),
        gramian=tf.constant(jacobian @ jacobian.T),
        training=True,
    )
    return layer.task_weights.numpy()


@pytest.mark.parametrize("seed", range(5))
def test_two_tasks_match_the_analytic_min_norm_point(seed):
    rng = np.random.default_rng(seed)
    g1, g2 = rng.normal(size=(2, 4)) * rng.uniform(0.2, 3.0, size=(2, 1))
    if seed == 4:  # a case where the clip is active
        g2 = 3.0 * g1 + 0.1 * g2
    gamma = np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0.0, 1.0)
    np.testing.assert_allclose(
        weights_for([g1, g2]), [gamma, 1 - gamma], atol=1e-5
    )


@pytest.mark.parametrize("seed", range(3))
def test_three_tasks_match_a_brute_force_grid(seed):
    rng = np.random.default_rng(10 + seed)
    jacobian = rng.normal(size=(3, 4)) * rng.uniform(0.5, 2.0, size=(3, 1))
    gramian = jacobian @ jacobian.T
    steps = np.linspace(0.0, 1.0, 401)
    a, b = np.meshgrid(steps, steps)
    mask = a + b <= 1.0
    grid = np.stack([a[mask], b[mask], 1.0 - a[mask] - b[mask]], axis=1)
    values = np.einsum("ni,ij,nj->n", grid, gramian, grid)
    w = weights_for(jacobian)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)
    assert np.all(w >= 0.0)
    # The solver's objective is at least as good as the grid's best point,
    # which is within the grid resolution of the solver's point.
    assert w @ gramian @ w <= values.min() + 1e-6
    np.testing.assert_allclose(w, grid[np.argmin(values)], atol=5e-3)


def test_min_norm_direction_is_a_common_descent_direction():
    rng = np.random.default_rng(7)
    jacobian = rng.normal(size=(3, 5))
    w = weights_for(jacobian)
    d = jacobian.T @ w
    # Optimality on the simplex: g_i . d >= ||d||^2 for every task.
    assert np.all(jacobian @ d >= d @ d - 1e-4)


def test_l2_normalization_equals_unit_gradients():
    rng = np.random.default_rng(8)
    jacobian = rng.normal(size=(3, 5)) * np.array([[0.1], [1.0], [10.0]])
    unit = jacobian / np.linalg.norm(jacobian, axis=1, keepdims=True)
    np.testing.assert_allclose(
        weights_for(jacobian, normalization="l2"),
        weights_for(unit),
        atol=2e-4,
    )


def test_loss_normalization_divides_by_the_losses():
    rng = np.random.default_rng(9)
    jacobian = rng.normal(size=(2, 3))
    losses = np.array([2.0, 0.5], "float32")
    np.testing.assert_allclose(
        weights_for(jacobian, losses=losses, normalization="loss"),
        weights_for(jacobian / losses[:, None]),
        atol=1e-5,
    )
