"""Pretrained VGG-16 weights: formats, channel order, errors, NDDR branches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.mtl_nas import NDDR
from tfmtl.models.backbones import VGG16
from tfmtl.models.backbones.vgg16_weights import (
    load_vgg16_weights,
    save_vgg16_weights,
    vgg16_arrays,
)
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.sharing import HardSharing

IMAGES = tf.random.stateless_uniform((2, 16, 16, 3), seed=(5, 6))
SCALE = 0.125  # VGG-16 at 1/8 width: the same layer names, fast


@pytest.fixture(scope="module")
def source():
    """A LargeFOV VGG-16 with random weights and non-trivial BN stats."""
    keras.utils.set_random_seed(11)
    vgg = VGG16(width_scale=SCALE)
    vgg(IMAGES)
    for variable in vgg.non_trainable_variables:  # moving statistics
        variable.assign(variable + 0.1)
    return vgg


def _vgg(**kwargs):
    vgg = VGG16(width_scale=SCALE, **kwargs)
    vgg(IMAGES)
    return vgg


def test_npz_round_trip_reproduces_every_array_and_output(source, tmp_path):
    path = str(tmp_path / "vgg.npz")
    save_vgg16_weights(source, path)
    arrays = np.load(path)
    assert arrays["conv1_1/kernel"].shape == (3, 3, 3, 8)
    assert arrays["fc6/kernel"].shape == (3, 3, 64, 128)  # 512 -> 1024 / 8
    assert len(arrays.files) == 15 * 6  # 13 convs + fc6 + fc7
    loaded = _vgg(pretrained=path)
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        source(IMAGES, training=False), loaded(IMAGES, training=False)
    )
    # A randomly initialised backbone differs (the load did something).
    assert not np.allclose(_vgg().weights[0], source.weights[0])


def test_h5_from_a_bgr_caffe_model_takes_rgb_input(source, tmp_path):
    path = str(tmp_path / "caffe.h5")
    save_vgg16_weights(source, path)
    loaded = _vgg(pretrained=path, pretrained_channel_order="bgr")
    # The file's network read BGR images; the loaded one reads RGB.
    np.testing.assert_allclose(
        loaded(IMAGES, training=False),
        source(IMAGES[..., ::-1], training=False),
        rtol=1e-4,
        atol=1e-4,
    )


def test_caffe_preprocessing_is_255x_minus_the_mean():
    vgg = VGG16(preprocessing="caffe")
    out = vgg.stem(tf.constant([[[[0.0, 0.5, 1.0]]]]))
    np.testing.assert_allclose(
        out[0, 0, 0], [-122.679, 127.5 - 116.669, 255 - 104.008], rtol=1e-5
    )
    clone = VGG16.from_config(vgg.get_config())
    assert clone.preprocessing == "caffe" and clone.pretrained is None
    with pytest.raises(ValueError, match="Unknown preprocessing"):
        VGG16(preprocessing="torch")


def test_keras_file_written_by_our_tools(source, tmp_path):
    model = MultiTaskModel(
        HardSharing(source, tasks=("a",)), {"a": DenseHead(2, num_layers=0)}
    )
    model(IMAGES)
    path = str(tmp_path / "single_task.keras")
    model.save(path)
    loaded = _vgg(pretrained=path)
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="index 1"):
        load_vgg16_weights(loaded, path, index=1)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    with pytest.raises(ValueError, match="weights.h5 files are not read"):
        load_vgg16_weights(loaded, weights)


def test_missing_file_bad_shapes_and_missing_arrays(source, tmp_path):
    target = _vgg()
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_vgg16_weights(target, tmp_path / "nowhere.npz")
    arrays = vgg16_arrays(source)

    # An ImageNet-style 7x7 fc6 does not fit LargeFOV's 3x3.
    bad = dict(arrays, **{"fc6/kernel": np.zeros((7, 7, 64, 128))})
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match=r"fc6/kernel has shape \(7, 7"):
        load_vgg16_weights(target, tmp_path / "bad.npz")

    partial = {k: v for k, v in arrays.items() if k != "conv3_2/bias"}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(ValueError, match="conv3_2/bias"):
        load_vgg16_weights(target, tmp_path / "partial.npz")
    load_vgg16_weights(target, tmp_path / "partial.npz", allow_missing=True)
    np.testing.assert_array_equal(
        target.blocks[0].layers[0].kernel, source.blocks[0].layers[0].kernel
    )

    np.savez(tmp_path / "extra.npz", **arrays, **{"conv9_1/kernel": 0})
    with pytest.raises(ValueError, match="unknown keys.*conv9_1"):
        load_vgg16_weights(target, tmp_path / "extra.npz")


def test_deeplab_style_file_without_batch_norm(source, tmp_path):
    convs = {
        k: v
        for k, v in vgg16_arrays(source).items()
        if k.endswith(("kernel", "bias"))
    }
    np.savez(tmp_path / "deeplab.npz", **convs)
    loaded = _vgg(pretrained=str(tmp_path / "deeplab.npz"))
    conv, norm = loaded.blocks[1].layers[0], loaded.blocks[1].layers[1]
    assert conv.name == "conv2_1_conv" and norm.name == "conv2_1_bn"
    np.testing.assert_array_equal(conv.kernel, convs["conv2_1/kernel"])
    np.testing.assert_array_equal(norm.gamma, np.ones(16))  # left at init
    np.testing.assert_array_equal(norm.moving_mean, np.zeros(16))


def test_nddr_loads_one_file_per_branch(tmp_path):
    files = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        vgg = VGG16(deeplab_largefov=False, width_scale=SCALE)
        vgg(tf.zeros((1, 32, 32, 3)))
        path = str(tmp_path / f"branch{seed}.npz")
        save_vgg16_weights(vgg, path)
        files.append((path, vgg16_arrays(vgg)["conv4_2/kernel"]))
    sharing = NDDR(
        lambda: VGG16(deeplab_largefov=False, width_scale=SCALE),
        tasks=("seg", "normals"),
        branch_pretrained=[p for p, _ in files],
    )
    sharing(tf.zeros((1, 32, 32, 3)))
    for branch, (_, kernel) in zip(sharing.branches, files):
        np.testing.assert_array_equal(
            vgg16_arrays(branch)["conv4_2/kernel"], kernel
        )
    with pytest.raises(ValueError, match="one weights file"):
        NDDR(VGG16, tasks=("a", "b"), branch_pretrained=["x.npz"])


def test_width_scale_keeps_the_layout():
    full, small = VGG16(), VGG16(width_scale=0.25)
    assert small.output_channels == 256 and full.output_channels == 1024
    assert small.stage_ends == full.stage_ends
    assert VGG16.from_config(small.get_config()).width_scale == 0.25
    shape = small.compute_output_shape((1, 16, 16, 3))
    assert tuple(shape) == (1, 2, 2, 256)
