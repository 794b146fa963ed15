"""TAPS layers: gate, straight-through gradient, per-task routing, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.taps import TAPSBatchNormalization, TAPSConv2D, TAPSDense


def _conv(num_tasks=2, **kwargs):
    layer = TAPSConv2D(4, 3, num_tasks=num_tasks, padding="same", **kwargs)
    layer.build((None, 6, 6, 3))
    rng = np.random.default_rng(0)
    layer.kernel.assign(rng.normal(size=layer.kernel.shape))
    for delta in layer.deltas:
        delta.assign(rng.normal(size=delta.shape))
    return layer


def _dense(num_tasks=2, **kwargs):
    layer = TAPSDense(4, num_tasks=num_tasks, **kwargs)
    layer.build((None, 5))
    rng = np.random.default_rng(1)
    layer.kernel.assign(rng.normal(size=layer.kernel.shape))
    layer.bias.assign(rng.normal(size=layer.bias.shape))
    for delta in layer.deltas:
        delta.assign(rng.normal(size=delta.shape))
    return layer


@pytest.mark.parametrize("make", [_conv, _dense])
def test_scores_below_threshold_give_exactly_the_base_output(make):
    layer = make(threshold=0.3)
    x = tf.random.stateless_normal(
        (2, 6, 6, 3) if isinstance(layer, TAPSConv2D) else (2, 5), (0, 1)
    )
    layer.scores[0].assign(0.2999)
    layer.scores[1].assign(0.3)
    if isinstance(layer, TAPSConv2D):
        base = keras.ops.conv(x, layer.kernel, padding="same")
        tuned = keras.ops.conv(
            x, layer.kernel + layer.deltas[1], padding="same"
        )
    else:
        base = x @ layer.kernel + layer.bias
        tuned = x @ (layer.kernel + layer.deltas[1]) + layer.bias
    layer.task_index = 0
    np.testing.assert_array_equal(layer(x), base)  # bit-exact
    layer.task_index = 1  # score == threshold: on
    np.testing.assert_allclose(layer(x), tuned, rtol=1e-5, atol=1e-5)
    assert not np.allclose(base, tuned)


@pytest.mark.parametrize("make", [_conv, _dense])
def test_straight_through_gradient_reaches_the_score(make):
    layer = make()
    shape = (2, 6, 6, 3) if isinstance(layer, TAPSConv2D) else (2, 5)
    x = tf.random.stateless_normal(shape, (2, 3))
    for score in (0.15, 0.05):  # on, then off: the score still learns
        layer.scores[0].assign(score)
        layer.task_index = 0
        kernel = tf.Variable(layer.task_kernel(0))
        with tf.GradientTape(persistent=True) as tape:
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        g_score, g_delta, g_other = tape.gradient(
            loss, [layer.scores[0], layer.deltas[0], layer.scores[1]]
        )
        # dL/ds = <dL/dW, delta> at the same effective kernel W.
        with tf.GradientTape() as tape2:
            if isinstance(layer, TAPSConv2D):
                y2 = keras.ops.conv(x, kernel, padding="same")
            else:
                y2 = x @ kernel + layer.bias
            loss2 = tf.reduce_sum(y2 * y2)
        g_kernel = tape2.gradient(loss2, kernel)
        expected = float(tf.reduce_sum(g_kernel * layer.deltas[0]))
        assert abs(expected) > 1e-3
        np.testing.assert_allclose(float(g_score), expected, rtol=1e-4)
        assert g_other is None  # the other task's score is not used
        if score < layer.threshold:
            np.testing.assert_array_equal(g_delta, 0.0)
        else:
            np.testing.assert_allclose(g_delta, g_kernel, rtol=1e-4, atol=1e-4)


def test_base_is_frozen_unless_train_base():
    frozen, joint = _conv(), _conv(train_base=True)
    names = {v.path.split("/")[-1] for v in frozen.trainable_variables}
    assert names == {"delta_0", "delta_1", "score_0", "score_1"}
    assert any(v is joint.kernel for v in joint.trainable_variables)
    np.testing.assert_allclose(frozen.scores[1], 0.15)
    assert TAPSConv2D(4, 3).get_config()["threshold"] == 0.1


def test_per_task_batch_norm_routes_statistics():
    norm = TAPSBatchNormalization(num_tasks=2, momentum=0.0)
    x = tf.random.stateless_normal((8, 3, 3, 2), (4, 5)) * 3.0 + 1.0
    norm.task_index = 1
    norm(x, training=True)
    np.testing.assert_allclose(norm.norms[0].moving_mean, 0.0)
    np.testing.assert_allclose(
        norm.norms[1].moving_mean,
        tf.reduce_mean(x, axis=(0, 1, 2)),
        rtol=1e-5,
    )
    assert len(norm.trainable_variables) == 4


def test_keras_file_round_trip_keeps_deltas_and_scores(tmp_path):
    layer = _conv()
    layer.scores[1].assign(0.02)
    model = keras.Sequential([keras.Input((6, 6, 3)), layer])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    clone = loaded.layers[0]
    assert isinstance(clone, TAPSConv2D) and clone.num_tasks == 2
    for a, b in zip(layer.weights, clone.weights):
        np.testing.assert_array_equal(a, b)
