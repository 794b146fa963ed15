"""FixedWeights: a hand-computed weighted sum and its input checks."""

import pytest
import tensorflow as tf

from tfmtl.weighting import FixedWeights


def test_weighted_sum_matches_hand_computation():
    layer = FixedWeights([1.0, 20.0])
    layer.build(2)
    # 1 * 1.5 + 20 * 0.25 = 6.5
    assert float(layer(tf.constant([1.5, 0.25]))) == pytest.approx(6.5)
    assert layer.task_weights.numpy().tolist() == [1.0, 20.0]


def test_default_is_equal_weights():
    layer = FixedWeights()
    layer.build(3)
    assert float(layer(tf.constant([1.0, 2.0, 3.0]))) == pytest.approx(6.0)


def test_wrong_number_of_weights_is_a_clear_error():
    layer = FixedWeights([1.0, 2.0])
    with pytest.raises(ValueError, match="2 weights for 3 tasks"):
        layer.build(3)
