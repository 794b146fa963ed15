"""PCGrad: hand-built conflicts and a numpy gradient-space reference."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import PCGrad


def weights_for(jacobian, **kwargs):
    jacobian = np.asarray(jacobian, "float32")
    layer = PCGrad(seed=0, **kwargs)
    layer.build(len(jacobian))
    gramian = tf.constant(jacobian @ jacobian.T)
    layer(tf.ones([len(jacobian)]), gramian=gramian, training=True)
    return layer.task_weights.numpy()


def numpy_pcgrad(jacobian, orders):
    """Gradient-space PCGrad (Yu et al. Algorithm 1) with given orders."""
    combined = np.zeros(jacobian.shape[1])
    for i, order in enumerate(orders):
        g = jacobian[i].copy()
        for j in order:
            dot = g @ jacobian[j]
            if dot < 0:
                g -= dot / (jacobian[j] @ jacobian[j]) * jacobian[j]
        combined += g
    return combined


def test_obtuse_pair_projects_each_onto_the_normal_plane():
    g1, g2 = np.array([1.0, 0.0]), np.array([-1.0, 1.0])
    w = weights_for([g1, g2])
    # g1^PC = g1 + g2 / 2 = (0.5, 0.5) (orthogonal to g2),
    # g2^PC = g2 + g1 = (0, 1) (orthogonal to g1).
    np.testing.assert_allclose(w, [2.0, 1.5], rtol=1e-6)
    np.testing.assert_allclose(w[0] * g1 + w[1] * g2, [0.5, 1.5], rtol=1e-6)


def test_opposite_gradients_cancel():
    g1, g2 = np.array([1.0, 0.0]), np.array([-2.0, 0.0])
    w = weights_for([g1, g2])
    np.testing.assert_allclose(w, [3.0, 1.5], rtol=1e-6)
    np.testing.assert_allclose(w[0] * g1 + w[1] * g2, [0.0, 0.0], atol=1e-6)


def test_non_conflicting_gradients_are_summed():
    np.testing.assert_allclose(
        weights_for([[1.0, 0.5], [0.2, 1.0], [1.0, 1.0]]), [1.0, 1.0, 1.0]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_order_matches_numpy_gradient_space(seed):
    rng = np.random.default_rng(seed)
    jacobian = rng.normal(size=(4, 7)).astype("float32")
    w = weights_for(jacobian, shuffle=False)
    expected = numpy_pcgrad(jacobian.astype("float64"), [range(4)] * 4)
    np.testing.assert_allclose(jacobian.T @ w, expected, rtol=1e-4, atol=1e-5)


def test_random_order_is_one_of_the_orders():
    # In 2-D three gradients conflict a lot: 16 distinct outcomes here.
    rng = np.random.default_rng(0)
    jacobian = rng.normal(size=(3, 2)).astype("float32")
    jacobian64 = jacobian.astype("float64")
    candidates = []
    for orders in itertools.product(itertools.permutations(range(3)), repeat=3):
        candidates.append(numpy_pcgrad(jacobian64, orders))
    layer = PCGrad(seed=11)
    layer.build(3)
    gramian = tf.constant(jacobian @ jacobian.T)
    seen = set()
    for _ in range(6):
        layer(tf.ones([3]), gramian=gramian, training=True)
        combined = jacobian.T @ layer.task_weights.numpy()
        errors = [np.abs(combined - c).max() for c in candidates]
        assert min(errors) < 1e-4
        seen.add(tuple(np.round(combined, 4)))
    assert len(seen) > 1  # the order really changes between calls


def test_include_self_is_the_libmtl_rule_and_differs_from_the_paper():
    # Row 3, projected off g1 then g2, ends with g3^PC . g3 < 0: the paper
    # (j != i) stops there, LibMTL's loop also projects g3^PC off g3.
    jacobian = np.array([[0.2, -0.6], [-1.3, -1.4], [0.5, 1.0]])
    gramian = tf.constant(jacobian @ jacobian.T, tf.float32)
    results = {}
    for include_self in (False, True):
        layer = PCGrad(shuffle=False, include_self=include_self)
        layer.build(3)
        layer(tf.ones([3]), gramian=gramian)
        results[include_self] = jacobian.T @ layer.task_weights.numpy()
    expected = {}
    for include_self in (False, True):
        total = np.zeros(2)
        for i in range(3):
            g = jacobian[i].copy()
            for j in range(3):
                dot = g @ jacobian[j]
                if (include_self or j != i) and dot < 0:
                    g -= dot / (jacobian[j] @ jacobian[j]) * jacobian[j]
            total += g
        expected[include_self] = total
        np.testing.assert_allclose(
            results[include_self], total, rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(expected[True], expected[False], atol=1e-2)
