"""The trainer's contract, checked for every method in `weighting.ALL`.

Eager single-device steps first; then tf.function and MirroredStrategy runs
(each replica holding half of the global batch) must give the eager value,
gradients and logged weights.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import weighting
from tfmtl.weighting import parameter_gramian, representation_gramian

GLOBAL_BATCH = 8
NAMES = sorted(weighting.ALL)


def make(name, num_tasks):
    kwargs = {"seed": 3} if "seed" in _init_args(name) else {}
    layer = weighting.get(name, **kwargs)
    layer.build(num_tasks)
    return layer


def _init_args(name):
    return weighting.ALL[name].__init__.__code__.co_varnames


class TinyModel:
    """A shared Dense trunk and K scalar heads with fixed initial weights."""

    def __init__(self, num_tasks):
        init = keras.initializers.GlorotUniform(seed=1)
        self.trunk = keras.layers.Dense(
            4, activation="tanh", kernel_initializer=init
        )
        self.heads = [
            keras.layers.Dense(1, kernel_initializer=init)
            for _ in range(num_tasks)
        ]
        self.trunk.build((None, 3))
        for head in self.heads:
            head.build((None, 4))

    def variables(self):
        out = list(self.trunk.trainable_variables)
        for head in self.heads:
            out += head.trainable_variables
        return out


def data(num_tasks):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH, 3)).astype("float32")
    y = rng.normal(size=(GLOBAL_BATCH, num_tasks)).astype("float32")
    return x, y


def train_step(layer, model, x, y):
    """What the trainer does, on one replica's slice of the batch."""
    with tf.GradientTape(persistent=True) as tape:
        representation = model.trunk(x)
        task_losses = [
            tf.reduce_sum(tf.square(head(representation)[:, 0] - y[:, k]))
            / GLOBAL_BATCH
            for k, head in enumerate(model.heads)
        ]
        losses = tf.stack(task_losses)
    gramian = None
    if layer.needs_gramian == "representation":
        gramian = representation_gramian(tape, losses, representation)
    elif layer.needs_gramian == "parameters":
        gramian = parameter_gramian(
            tape, losses, model.trunk.trainable_variables
        )
    with tape:
        total = layer(losses, gramian=gramian, training=True)
    variables = model.variables() + list(layer.trainable_variables)
    grads = tape.gradient(total, variables)
    if layer.needs_per_task_gradients:
        shared = model.trunk.trainable_variables
        per_task = [tape.gradient(loss, shared) for loss in task_losses]
        grads[: len(shared)] = layer.transform_gradients(per_task)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        grads = context.all_reduce("SUM", grads)
    return total, grads


def run_single(name, num_tasks, traced):
    layer = make(name, num_tasks)
    model = TinyModel(num_tasks)
    x, y = data(num_tasks)
    step = tf.function(train_step) if traced else train_step
    total, grads = step(layer, model, tf.constant(x), tf.constant(y))
    return layer, total.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("num_tasks", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_finite_scalar_and_gradients(name, num_tasks):
    layer, total, grads = run_single(name, num_tasks, traced=False)
    assert np.shape(total) == ()
    assert np.isfinite(total)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.any(grads[0] != 0.0)  # the shared kernel gets a gradient
    assert tuple(layer.task_weights.shape) == (num_tasks,)
    assert np.all(np.isfinite(layer.task_weights.numpy()))
    assert int(layer.iterations.numpy()) == 1


def random_gramian(num_tasks, seed, dim=6):
    rng = np.random.default_rng(seed)
    jacobian = rng.normal(size=(num_tasks, dim)) * rng.uniform(
        0.5, 2.0, size=(num_tasks, 1)
    )
    return (jacobian @ jacobian.T).astype("float32")


@pytest.mark.parametrize(
    "name", [n for n in NAMES if weighting.ALL[n].deterministic]
)
def test_permutation_equivariance(name):
    num_tasks = 4
    gramian = random_gramian(num_tasks, seed=5)
    losses = np.array([0.5, 1.0, 2.0, 3.0], "float32")
    permutation = np.array([2, 0, 3, 1])
    results = []
    for perm in (np.arange(num_tasks), permutation):
        layer = make(name, num_tasks)
        layer(
            tf.constant(losses[perm]),
            gramian=tf.constant(gramian[np.ix_(perm, perm)]),
            training=True,
        )
        results.append(layer.task_weights.numpy())
    np.testing.assert_allclose(
        results[1], results[0][permutation], rtol=2e-3, atol=1e-4
    )


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_registry(name):
    layer = make(name, 2)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert clone.needs_gramian == layer.needs_gramian
    serialized = keras.saving.serialize_keras_object(layer)
    assert keras.saving.deserialize_keras_object(serialized).get_config() == (
        config
    )


def test_get_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="pcgrad"):
        weighting.get("nope")
    assert isinstance(weighting.get("PCGrad"), weighting.PCGrad)


def test_gradient_source_is_configurable():
    assert weighting.get("mgda").needs_gramian == "representation"
    layer = weighting.get("mgda", gradients="parameters")
    assert layer.needs_gramian == "parameters"
    with pytest.raises(ValueError):
        weighting.get("cagrad", gradients="features")


@pytest.mark.parametrize("name", ["uw", "mgda"])
def test_stays_float32_under_mixed_precision(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = make(name, 2)
    losses = tf.constant([1.0, 1.0 + 1e-4])  # not representable in float16
    total = layer(losses, gramian=tf.constant([[1.0, 0.2], [0.2, 2.0]]))
    assert total.dtype == tf.float32
    assert layer.task_weights.dtype == "float32"
    if name == "uw":
        np.testing.assert_allclose(total.numpy(), 2.0001, rtol=1e-6)


def two_cpu_strategy(key_base):
    """A MirroredStrategy over the two logical CPUs of conftest.py.

    TF hands every MirroredStrategy of a process the same collective keys,
    so two strategies that all-reduce tensors of different shapes clash
    ("Shape mismatch in the collective instance"). TF's test hook
    ``_collective_key_base`` gives this one keys of its own.
    """

    class Strategy(tf.distribute.MirroredStrategy):
        _collective_key_base = key_base

    return Strategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="module")
def strategy():
    return two_cpu_strategy(key_base=7100)


@pytest.mark.parametrize("name", NAMES)
def test_traced_and_mirrored_match_eager(name, strategy):
    """tf.function on one device, then MirroredStrategy.run on two, against
    the eager single-device step on the same global batch."""
    num_tasks = 3
    eager_layer, eager_total, eager_grads = run_single(
        name, num_tasks, traced=False
    )
    traced_layer, traced_total, traced_grads = run_single(
        name, num_tasks, traced=True
    )
    with strategy.scope():
        layer = make(name, num_tasks)
        model = TinyModel(num_tasks)
    x, y = data(num_tasks)
    dataset = tf.data.Dataset.from_tensors((x, y)).unbatch().batch(8)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(batch):
        total, grads = strategy.run(
            train_step, args=(layer, model, batch[0], batch[1])
        )
        total = strategy.reduce("SUM", total, axis=None)
        grads = [strategy.experimental_local_results(g)[0] for g in grads]
        return total, grads

    mirrored_total, mirrored_grads = step(batch)
    runs = [
        (traced_layer, traced_total, traced_grads),
        (layer, mirrored_total.numpy(), [g.numpy() for g in mirrored_grads]),
    ]
    for run_layer, total, grads in runs:
        np.testing.assert_allclose(total, eager_total, rtol=1e-4, atol=1e-6)
        for g, e in zip(grads, eager_grads):
            np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(
            run_layer.task_weights.numpy(),
            eager_layer.task_weights.numpy(),
            rtol=1e-4,
            atol=1e-6,
        )
        assert int(run_layer.iterations.numpy()) == 1
