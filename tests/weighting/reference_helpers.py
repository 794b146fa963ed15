"""Shared plumbing of the reference tests of the Gramian-based methods.

Each method's test module holds its own float64 numpy reference (written
from the paper and the original code); this module only feeds a layer the
Gramian ``G = J J^T`` of a Jacobian, reads back its direction ``d = J^T w``
and measures the distance to the reference's direction.
"""

import numpy as np
import tensorflow as tf

from tests.weighting.jacobians import FAMILIES, jacobian_families

__all__ = ["FAMILIES", "direction", "jacobian_families", "relative_error"]


def direction(layer, jacobian, losses=None, training=True):
    """``(d, w)``: the layer's weights on ``G = J J^T`` (fed in float32, as
    the trainer does) and ``d = J^T w`` in float64."""
    k = len(jacobian)
    if not layer.built:
        layer.build(k)
    losses = np.ones(k) if losses is None else losses
    layer(
        tf.constant(losses, tf.float32),
        gramian=tf.constant(jacobian @ jacobian.T, tf.float32),
        training=training,
    )
    w = layer.task_weights.numpy().astype(np.float64)
    return jacobian.T @ w, w


def relative_error(d, expected):
    """``||d - expected|| / ||expected||`` (absolute below 1e-12)."""
    scale = max(np.linalg.norm(expected), 1e-12)
    return float(np.linalg.norm(d - expected) / scale)
