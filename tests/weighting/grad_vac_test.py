"""GradVac: numpy gradient-space reference with preset EMA targets."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import GradVac, PCGrad


def numpy_gradvac(jacobian, targets, beta):
    """Gradient-space GradVac (Wang et al. Algorithm 2), task order."""
    targets = targets.copy()
    combined = np.zeros(jacobian.shape[1])
    for i in range(len(jacobian)):
        g = jacobian[i].copy()
        for j in range(len(jacobian)):
            if j == i:
                continue
            gj = jacobian[j]
            phi = g @ gj / (np.linalg.norm(g) * np.linalg.norm(gj))
            target = targets[i, j]
            if phi < target:
                g = g + (
                    np.linalg.norm(g)
                    * (
                        target * np.sqrt(1 - phi**2)
                        - phi * np.sqrt(1 - target**2)
                    )
                    / (np.linalg.norm(gj) * np.sqrt(1 - target**2))
                    * gj
                )
            targets[i, j] = (1 - beta) * target + beta * phi
        combined += g
    return combined, targets


@pytest.mark.parametrize("seed", range(3))
def test_matches_numpy_with_preset_targets(seed):
    rng = np.random.default_rng(seed)
    jacobian = rng.normal(size=(3, 6)).astype("float32")
    targets = rng.uniform(-0.5, 0.5, size=(3, 3)).astype("float32")
    layer = GradVac(beta=0.1, shuffle=False)
    layer.build(3)
    layer.targets.assign(targets)
    layer(
        tf.ones([3]),
        gramian=tf.constant(jacobian @ jacobian.T),
        training=True,
    )
    combined, new_targets = numpy_gradvac(
        jacobian.astype("float64"), targets.astype("float64"), 0.1
    )
    w = layer.task_weights.numpy()
    np.testing.assert_allclose(jacobian.T @ w, combined, rtol=1e-4, atol=1e-4)
    off_diagonal = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(
        layer.targets.numpy()[off_diagonal],
        new_targets[off_diagonal],
        atol=1e-5,
    )


def test_zero_targets_are_pcgrad():
    rng = np.random.default_rng(4)
    jacobian = rng.normal(size=(4, 5)).astype("float32")
    gramian = tf.constant(jacobian @ jacobian.T)
    results = []
    for layer in (GradVac(shuffle=False), PCGrad(shuffle=False)):
        layer.build(4)
        layer(tf.ones([4]), gramian=gramian, training=True)
        results.append(layer.task_weights.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-5)
