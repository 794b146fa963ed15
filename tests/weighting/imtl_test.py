"""IMTL-G: equal projections on the unit task gradients."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import IMTL


def weights_for(jacobian):
    jacobian = np.asarray(jacobian, "float32")
    layer = IMTL()
    layer.build(len(jacobian))
    layer(
        tf.ones([len(jacobian)]),
        gramian=tf.constant(jacobian @ jacobian.T),
        training=True,
    )
    return layer.task_weights.numpy()


@pytest.mark.parametrize("num_tasks", [2, 3, 4])
def test_combined_gradient_has_equal_unit_projections(num_tasks):
    rng = np.random.default_rng(num_tasks)
    jacobian = rng.normal(size=(num_tasks, 6)) * rng.uniform(
        0.2, 5.0, size=(num_tasks, 1)
    )
    w = weights_for(jacobian)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-5)
    unit = jacobian / np.linalg.norm(jacobian, axis=1, keepdims=True)
    projections = unit @ (jacobian.T @ w)
    np.testing.assert_allclose(projections, projections[0], rtol=1e-3)
    # The paper's closed form, in gradient space.
    d = jacobian[:1] - jacobian[1:]
    u = unit[:1] - unit[1:]
    tail = jacobian[0] @ u.T @ np.linalg.inv(d @ u.T)
    np.testing.assert_allclose(
        w, np.concatenate([[1 - tail.sum()], tail]), atol=1e-3
    )


def test_orthogonal_gradients_hand_case():
    # g1 = e1, g2 = 2 e2: a = (2/3, 1/3), projections 2/3 on both.
    np.testing.assert_allclose(
        weights_for([[1.0, 0.0], [0.0, 2.0]]), [2 / 3, 1 / 3], rtol=1e-5
    )
