"""Per-task optimizers drop their learning rate at the global step.

The reference (google/multi-task-architecture-search, `main.py::train`)
divides `opt.learning_rate` by `drop_lr_factor` after the training step
whose global step is listed in `drop_learning_rate`, and sets it on every
optimizer at once, whichever task each step trained.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods import feature_partitioning as fp

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


def _reference_rates(num_steps, lr, drops, factor=10.0):
    """`main.py::train`: the rate each global step trains with (float64)."""
    rates = np.zeros(num_steps)
    for global_step in range(num_steps):
        rates[global_step] = lr
        if global_step in drops:  # dropped after this step's update
            lr = lr / factor
    return rates


def test_rates_follow_the_global_step_under_skewed_sampling():
    # Curriculum-like task probabilities from 0.5 % to 33 % over 9 tasks.
    probs = np.array([0.5, 1, 2, 4, 8, 12, 18, 21.5, 33]) / 100
    rng = np.random.default_rng(0)
    steps, drop = 120, 80
    order = rng.choice(9, size=steps, p=probs / probs.sum())
    step = tf.Variable(0, dtype=tf.int64)
    variables = [tf.Variable(0.0, dtype=tf.float64) for _ in range(9)]
    optimizers = [
        keras.optimizers.SGD(fp.GlobalStepDecay([drop], [1.0, 0.1], step))
        for _ in range(9)
    ]
    for g, t in enumerate(order):
        step.assign(g)
        one = tf.ones((), tf.float64)
        optimizers[t].apply_gradients([(one, variables[t])])
    rates = _reference_rates(steps, 1.0, {drop})
    for t in range(9):
        # Unit gradients: each variable moved by minus the rates it saw.
        expected = -rates[order == t].sum()
        np.testing.assert_allclose(float(variables[t]), expected, rtol=1e-6)
        # Afterwards every optimizer is at the dropped rate, also those
        # that took far fewer than `drop` steps themselves.
        assert int(optimizers[t].iterations) == (order == t).sum() < drop
        np.testing.assert_allclose(float(optimizers[t].learning_rate), 0.1)


def test_unbound_schedule_is_a_clear_error():
    lr = fp.GlobalStepDecay([10], [1.0, 0.1])
    try:
        lr(0)
    except RuntimeError as error:
        assert "BindGlobalStep" in str(error)
    else:
        raise AssertionError("an unbound GlobalStepDecay must not run")
