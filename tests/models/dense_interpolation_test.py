"""MultiTaskModel(dense_interpolation=...): AdaShare's nearest upsampling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel, resize_nearest
from tfmtl.sharing import HardSharing

SIZE = 16


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    return MultiTaskModel(
        HardSharing(
            ResNet(18, stem="small", widths=(4, 4, 8, 8)), tasks=("a",)
        ),
        {"a": DenseHead(3, num_layers=0)},
        **kwargs,
    )


def _head_output(model, images):
    """The head's prediction at the feature resolution."""
    _, features = model(images, return_features=True)
    return model.heads["a"](features["a"]).numpy()


def test_nearest_repeats_each_head_pixel_for_an_integer_factor():
    images = tf.random.stateless_normal((2, SIZE, SIZE, 3), seed=(1, 2))
    model = _model(dense_interpolation="nearest")
    small = _head_output(model, images)
    factor = SIZE // small.shape[1]
    assert factor > 1 and small.shape[1] * factor == SIZE
    expected = np.repeat(np.repeat(small, factor, axis=1), factor, axis=2)
    np.testing.assert_allclose(model(images)["a"].numpy(), expected, atol=1e-6)
    # The default stays bilinear, which does not repeat pixels.
    default = _model()
    bilinear = default(images)["a"].numpy()
    np.testing.assert_allclose(
        bilinear,
        tf.image.resize(_head_output(default, images), (SIZE, SIZE)).numpy(),
        atol=1e-5,
    )
    assert not np.allclose(bilinear, expected, atol=1e-3)


def test_nearest_follows_pytorch_floor_rule_for_other_factors():
    # Output pixel i reads input floor(i * 3 / 7): 0 0 0 1 1 2 2 (TF's
    # half-pixel "nearest" would give 0 0 1 1 1 2 2).
    column = tf.reshape(tf.constant([10.0, 20.0, 30.0]), (1, 3, 1, 1))
    out = resize_nearest(column, (7, 2)).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(
        out[:, 0], [10.0, 10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
    )
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    # Down-sampling 6 -> 4 reads floor(i * 6 / 4): 0 1 3 4.
    row = tf.reshape(tf.range(6, dtype=tf.float32), (1, 1, 6, 1))
    np.testing.assert_array_equal(
        resize_nearest(row, (1, 4)).numpy().ravel(), [0.0, 1.0, 3.0, 4.0]
    )


def test_bad_value_is_rejected_and_config_round_trips():
    with pytest.raises(ValueError, match="dense_interpolation"):
        _model(dense_interpolation="bicubic")
    model = _model(dense_interpolation="nearest")
    model(tf.zeros((1, 8, 8, 3)))
    assert model.get_config()["dense_interpolation"] == "nearest"
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)
    )
    assert clone.dense_interpolation == "nearest"
    assert _model().get_config()["dense_interpolation"] == "bilinear"
