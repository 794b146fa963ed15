"""Gradient accumulation: N micro-batches of B make one update on N * B."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.sharing import HardSharing
from tfmtl.trainers import Joint, build_controller
from tfmtl.trainers.gradient_accumulator import GradientAccumulator

TASKS = ("attr_a0", "attr_b0")  # classifier heads: no batch norm
_SOURCE = SyntheticScenes(
    image_size=16, num_train=64, num_validation=16, num_test=16
)


@keras.saving.register_keras_serializable(package="tfmtl_accumulation_test")
class TwoConvs(keras.layers.Layer):
    """Two strided convolutions without normalisation: a batch's gradient is
    the mean of its examples' gradients (BatchNorm in training mode would
    couple them)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Conv2D(8, 3, 2, activation="relu")
        self.second = keras.layers.Conv2D(8, 3, 2, activation="relu")

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build(self.first.compute_output_shape(input_shape))

    def call(self, images, training=None):
        return self.second(self.first(images))


@keras.saving.register_keras_serializable(package="tfmtl_accumulation_test")
class TwoGroupSharing(HardSharing):
    """Hard sharing whose second convolution has its own optimizer group."""

    def variable_groups(self):
        return {
            "weights": self.backbone.first.trainable_variables,
            "late": self.backbone.second.trainable_variables,
        }


def _sharing():
    return TwoGroupSharing(TwoConvs(), tasks=TASKS)


def _controller(model_dir, batch, steps=1, strategy=None, **kwargs):
    return build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(_SOURCE, TASKS),
        sharing=_sharing,
        optimizers={
            "weights": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
            "late": lambda: keras.optimizers.SGD(0.05),
        },
        train_data=_SOURCE,
        global_batch_size=batch,
        accumulation_steps=steps,
        strategy=strategy,
        schedule=Joint(groups=("weights", "late")),
        checkpoint_every=1000,
        summary_every=1000,
        **kwargs,
    )


def _weights(controller):
    return [np.array(v) for v in controller.model.weights]


def _iterations(optimizer):
    return int(keras.ops.convert_to_numpy(optimizer.iterations.value))


def _assert_same(a, b, rtol=1e-5, atol=1e-6):
    assert len(a.model.weights) == len(b.model.weights)
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def test_micro_steps_equal_one_large_batch(tmp_path):
    # 2 windows of 3 micro-batches of 4 == 2 steps on batches of 12 (the
    # index stream does not depend on the batch size, so the examples are
    # the same), with momentum carried across the windows.
    large = _controller(tmp_path / "large", batch=12)
    large.train(2)
    micro = _controller(tmp_path / "micro", batch=4, steps=3)
    start = _weights(micro)
    micro.train(2)
    # Mid-window: nothing applied yet, the gradients wait in the sums.
    for x, y in zip(start, _weights(micro)):
        np.testing.assert_array_equal(x, y)
    assert _iterations(micro.optimizers["weights"]) == 0
    sums = micro.trainer.accumulator.sums
    assert any(np.abs(np.asarray(s)).sum() > 0 for s in sums)
    micro.train(6)
    _assert_same(large, micro)
    for group in ("weights", "late"):
        assert _iterations(micro.optimizers[group]) == 2
    # After an update the sums restart from zero.
    assert all(np.abs(np.asarray(s)).sum() == 0 for s in sums)


def test_mirrored_accumulation_matches_one_device(tmp_path, mirrored_strategy):
    single = _controller(tmp_path / "one", batch=8, steps=2)
    single.train(4)
    two = _controller(
        tmp_path / "two", batch=8, steps=2, strategy=mirrored_strategy
    )
    assert two.strategy.num_replicas_in_sync == 2
    two.train(4)
    assert _iterations(two.optimizers["weights"]) == 2
    _assert_same(single, two, rtol=1e-4, atol=1e-5)
    # One step of batch 16 on two replicas is the same update.
    large = _controller(
        tmp_path / "large", batch=16, strategy=mirrored_strategy
    )
    large.train(2)
    _assert_same(large, two, rtol=1e-4, atol=1e-5)


def test_resume_mid_window_matches_uninterrupted(tmp_path):
    straight = _controller(tmp_path / "a", batch=4, steps=2)
    straight.train(6)
    interrupted = _controller(tmp_path / "b", batch=4, steps=2)
    interrupted.train(3)  # the final checkpoint is in the middle of a window
    resumed = _controller(tmp_path / "b", batch=4, steps=2)
    resumed.restore()
    assert resumed.step == 3
    assert int(resumed.trainer.accumulator.count.numpy()) == 1
    restored = [np.asarray(s) for s in resumed.trainer.accumulator.sums]
    assert any(np.abs(s).sum() > 0 for s in restored)
    resumed.train(6)
    _assert_same(straight, resumed)


def test_accumulator_hand_case():
    variable, other = tf.Variable([1.0, 2.0]), tf.Variable(3.0)
    accumulator = GradientAccumulator([variable, other, variable], steps=2)
    assert len(accumulator.sums) == 2  # one sum per distinct variable
    assert not accumulator.is_update_step()
    accumulator.add([(tf.constant([1.0, 3.0]), variable)])
    accumulator.advance()
    assert accumulator.is_update_step()
    accumulator.add([(tf.constant([3.0, 5.0]), variable)])
    (mean, var), (zero, var2) = accumulator.take([variable, other])
    accumulator.advance()
    assert var is variable and var2 is other
    np.testing.assert_allclose(mean, [2.0, 4.0])
    assert float(zero) == 0.0  # no gradient in the window
    np.testing.assert_allclose(accumulator.sums[0], [0.0, 0.0])
    assert int(accumulator.count.numpy()) == 0
    with pytest.raises(ValueError, match="steps"):
        GradientAccumulator([variable], steps=1)
