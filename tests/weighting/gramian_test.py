"""Gramians against numpy Gramians of separately computed gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.weighting import parameter_gramian, representation_gramian

GLOBAL_BATCH = 8
NUM_TASKS = 3


class Model:
    """Two shared trunks (two representation tensors) and three heads; the
    last head reads only the first representation."""

    def __init__(self):
        init = keras.initializers.GlorotUniform(seed=2)
        self.trunk_a = keras.layers.Dense(4, "tanh", kernel_initializer=init)
        self.trunk_b = keras.layers.Dense(2, "tanh", kernel_initializer=init)
        self.heads = [
            keras.layers.Dense(1, kernel_initializer=init) for _ in range(3)
        ]
        self.trunk_a.build((None, 3))
        self.trunk_b.build((None, 3))
        for head in self.heads[:2]:
            head.build((None, 6))
        self.heads[2].build((None, 4))

    def shared(self):
        return self.trunk_a.trainable_variables + (
            self.trunk_b.trainable_variables
        )


def forward(model, x, y):
    with tf.GradientTape(persistent=True) as tape:
        a, b = model.trunk_a(x), model.trunk_b(x)
        both = tf.concat([a, b], axis=1)
        predictions = [model.heads[0](both), model.heads[1](both)]
        predictions.append(model.heads[2](a))
        task_losses = [
            tf.reduce_sum(tf.square(p[:, 0] - y[:, k])) / GLOBAL_BATCH
            for k, p in enumerate(predictions)
        ]
        losses = tf.stack(task_losses)
    return tape, losses, task_losses, [a, b]


def batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH, 3)).astype("float32")
    y = rng.normal(size=(GLOBAL_BATCH, NUM_TASKS)).astype("float32")
    return tf.constant(x), tf.constant(y)


def numpy_gramian(tape, task_losses, sources):
    rows = []
    for loss in task_losses:
        grads = tape.gradient(loss, sources)
        grads = [
            tf.zeros(s.shape) if g is None else g
            for g, s in zip(grads, sources)
        ]
        rows.append(np.concatenate([g.numpy().ravel() for g in grads]))
    jacobian = np.stack(rows)
    return jacobian @ jacobian.T


def test_representation_gramian_matches_separate_gradients():
    model = Model()
    tape, losses, task_losses, reps = forward(model, *batch())
    gramian = representation_gramian(tape, losses, reps)
    expected = numpy_gramian(tape, task_losses, reps)
    assert gramian.shape == (3, 3) and gramian.dtype == tf.float32
    np.testing.assert_allclose(gramian.numpy(), expected, rtol=1e-5)
    # Task 2 never reads the second representation: its block is zero.
    single = representation_gramian(tape, losses, reps[1])
    np.testing.assert_allclose(single.numpy()[2], 0.0, atol=1e-12)


@pytest.mark.parametrize("traced", [False, True])
def test_representation_gramian_from_separate_losses(traced):
    """The per-task path (a list of scalar losses, one backward each) equals
    the vectorised one, eagerly and inside tf.function, including the zero
    block of the unconnected representation."""
    model = Model()
    x, y = batch()

    def both():
        tape, losses, task_losses, reps = forward(model, x, y)
        return (
            representation_gramian(tape, task_losses, reps),
            representation_gramian(tape, losses, reps),
            representation_gramian(tape, task_losses, reps[1]),
        )

    fn = tf.function(both) if traced else both
    separate, stacked, single = fn()
    np.testing.assert_allclose(separate.numpy(), stacked.numpy(), rtol=1e-6)
    np.testing.assert_allclose(single.numpy()[2], 0.0, atol=1e-12)


def test_parameter_gramian_matches_separate_gradients():
    model = Model()
    tape, losses, task_losses, _ = forward(model, *batch())
    gramian = parameter_gramian(tape, losses, model.shared())
    expected = numpy_gramian(tape, task_losses, model.shared())
    np.testing.assert_allclose(gramian.numpy(), expected, rtol=1e-5)
    # A variable no task reads contributes zeros instead of failing.
    unused = keras.Variable(np.ones(3, "float32"))
    padded = parameter_gramian(tape, losses, model.shared() + [unused])
    np.testing.assert_allclose(padded.numpy(), expected, rtol=1e-5)


def test_works_inside_tf_function():
    model = Model()
    x, y = batch()

    @tf.function
    def gramians(x, y):
        tape, losses, _, reps = forward(model, x, y)
        return (
            representation_gramian(tape, losses, reps),
            parameter_gramian(tape, losses, model.shared()),
        )

    tape, losses, task_losses, reps = forward(model, x, y)
    traced_rep, traced_par = gramians(x, y)
    np.testing.assert_allclose(
        traced_rep.numpy(), numpy_gramian(tape, task_losses, reps), rtol=1e-5
    )
    np.testing.assert_allclose(
        traced_par.numpy(),
        numpy_gramian(tape, task_losses, model.shared()),
        rtol=1e-5,
    )


@pytest.fixture(scope="module")
def strategy():
    # TF gives every MirroredStrategy of a process the same collective keys;
    # TF's test hook `_collective_key_base` keeps this one's apart (see
    # distributed_test.py).
    class Strategy(tf.distribute.MirroredStrategy):
        _collective_key_base = 7300

    return Strategy(["/cpu:0", "/cpu:1"])


def test_two_replicas_equal_single_device(strategy):
    single = Model()
    x, y = batch()
    tape, losses, _, reps = forward(single, x, y)
    expected_rep = representation_gramian(tape, losses, reps).numpy()
    expected_par = parameter_gramian(tape, losses, single.shared()).numpy()

    with strategy.scope():
        model = Model()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    inputs = next(iter(strategy.experimental_distribute_dataset(dataset)))

    def replica_step(x, y):
        tape, losses, _, reps = forward(model, x, y)
        return (
            representation_gramian(tape, losses, reps),
            parameter_gramian(tape, losses, model.shared()),
        )

    @tf.function
    def step(inputs):
        return strategy.run(replica_step, args=inputs)

    rep, par = step(inputs)
    for value in strategy.experimental_local_results(rep):
        np.testing.assert_allclose(value.numpy(), expected_rep, rtol=1e-5)
    for value in strategy.experimental_local_results(par):
        np.testing.assert_allclose(value.numpy(), expected_par, rtol=1e-5)
