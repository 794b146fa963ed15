"""The Taskonomy lookahead against a float64 SGD + weight-decay step.

Reference: `Trainer.lookahead` of google-research `tag/taskonomy/tag.patch`:
`grad += param * weight_decay; param - lr * grad` (its momentum buffer is
never found in `param_groups[0]`, so no momentum term).
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.tag.taskonomy_affinity_recorder import (
    TaskonomyAffinityRecorder,
)


def test_step_is_sgd_with_weight_decay():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, 4))
    grad = rng.normal(size=(3, 4))
    lr, wd = 0.1, 1e-2
    variable = tf.Variable(theta, dtype=tf.float64)
    recorder = TaskonomyAffinityRecorder(weight_decay=wd)
    step = recorder._step(None, variable, tf.constant(grad), lr)
    expected = theta - lr * (grad + wd * theta)
    np.testing.assert_allclose(theta + step.numpy(), expected, rtol=1e-12)
    # Weight decay matters: a plain SGD step is measurably different.
    plain = theta - lr * grad
    assert np.max(np.abs(expected - plain)) > 1e-4


def test_defaults_follow_the_patch():
    recorder = TaskonomyAffinityRecorder()
    assert recorder.weight_decay == 1e-4
    assert recorder.probe_every_n_steps == 10
    assert recorder.divide_by_lr and recorder.kind == "tag"


def test_negative_weight_decay_is_rejected():
    with pytest.raises(ValueError, match="-1"):
        TaskonomyAffinityRecorder(weight_decay=-1)
