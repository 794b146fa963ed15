"""Tests for tfmtl.data.imagenet_preprocessing.

References, in float64 numpy: torchvision `transforms.Normalize(mean, std)`
after `ToTensor` (`(x - mean) / std` per RGB channel, the ImageNet weights'
mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)); Keras
`imagenet_utils.preprocess_input(mode="caffe")` (RGB -> BGR, x * 255 minus
(103.939, 116.779, 123.68)).
"""

import os

import gin
import numpy as np
import pytest

from tfmtl.data import SyntheticScenes
from tfmtl.data.imagenet_preprocessing import (
    ImageNetPreprocessing,
    preprocess_image,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _image(seed=0):
    return np.random.default_rng(seed).uniform(size=(5, 7, 3))


def test_torchvision_mode_is_normalize():
    image = _image()
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    ours = np.asarray(preprocess_image(image.astype("f4")))
    np.testing.assert_allclose(ours, (image - mean) / std, atol=1e-5)


def test_caffe_mode_is_bgr_minus_mean():
    image = _image(1)
    expected = image[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])
    ours = np.asarray(preprocess_image(image.astype("f4"), "caffe"))
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    # Channel 0 is blue: a pure red pixel leaves it at minus the blue mean.
    red = np.asarray(preprocess_image(np.array([[[1.0, 0, 0]]], "f4"), "caffe"))
    np.testing.assert_allclose(
        red[0, 0], [-103.939, -116.779, 131.32], atol=1e-3
    )


def test_wrapper_changes_images_only():
    source = SyntheticScenes(image_size=16, num_train=4, num_validation=2)
    wrapped = ImageNetPreprocessing(source)
    raw, out = source.example(3, "train"), wrapped.example(3, "train")
    np.testing.assert_allclose(
        np.asarray(out["image"]),
        np.asarray(preprocess_image(raw["image"])),
    )
    for task, label in raw["labels"].items():
        np.testing.assert_array_equal(out["labels"][task], label)
    assert wrapped.num_examples("train") == 4
    assert wrapped.task_kinds == source.task_kinds
    with pytest.raises(ValueError, match="mode must be one of"):
        ImageNetPreprocessing(source, mode="bgr")


def test_gin_file_wraps_the_source():
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            ["gin_configs/data/imagenet_preprocessing.gin"],
            [
                "from __gin__ import dynamic_registration\n"
                "from tfmtl import data\n"
                "SOURCE_DATA = @data.SyntheticScenes()\n"
                "data.SyntheticScenes.image_size = 8\n"
                "IMAGENET_PREPROCESSING = 'caffe'"
            ],
        )
        data = gin.query_parameter("%DATA").scoped_configurable_fn()
    finally:
        gin.clear_config()
    assert isinstance(data, ImageNetPreprocessing) and data.mode == "caffe"
    assert isinstance(data.source, SyntheticScenes)
