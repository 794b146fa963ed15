"""The TAPS configs' input pipeline on tiny on-disk data sets.

Reference: TAPS `utils.create_transforms` (github.com/MattWallingford/TAPS):
train `RandomResizedCrop(224)` + `RandomHorizontalFlip()`, test
`Resize(224)` + `CenterCrop(224)` (torchvision: shorter side to 224, then
`top = int(round((H - 224) / 2))`), both `Normalize(mean=[0.485, 0.456,
0.406], std=[0.229, 0.224, 0.225])` after `ToTensor` (pixels / 255).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.taps.gin_macros import macro_value
from tfmtl.data import make_dataset

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
# Shorter side 224 (Resize is the identity); odd margins round half to even.
SIZES = [(224, 261), (261, 224), (224, 300), (300, 224)]


def _data(gin_file, bindings):
    return macro_value(gin_file, bindings, "DATA")


def _write_split(folder, seed):
    """Two classes of random PNGs; returns {path: uint8 pixels}."""
    rng = np.random.default_rng(seed)
    files = {}
    for c in range(2):
        for i, size in enumerate(SIZES):
            path = os.path.join(folder, f"class{c}", f"{i}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            tf.io.write_file(path, tf.io.encode_png(pixels))
            files[path] = pixels
    return files


def _numpy_test_image(pixels):
    """float64 Resize(224) (identity here) + CenterCrop(224) + Normalize."""
    h, w = pixels.shape[:2]
    assert min(h, w) == 224
    top, left = int(round((h - 224) / 2)), int(round((w - 224) / 2))
    crop = pixels[top : top + 224, left : left + 224].astype(np.float64)
    return (crop / 255.0 - MEAN) / STD


def _images(source, split, **kwargs):
    ds = make_dataset(source, split, None, 1, drop_remainder=False, **kwargs)
    return [batch["image"][0].numpy() for batch in ds]


def _check(source, test_split, train_split, files):
    # Test: exactly the numpy transform of each file, in file order.
    expected = [_numpy_test_image(files[p]) for p in sorted(files)]
    got = _images(source, test_split, shuffle=False, repeat=False)
    assert len(got) == len(expected)
    for image, want in zip(got, expected, strict=True):
        np.testing.assert_allclose(image, want, atol=2e-6)
    # Train: 224 crops; the same index repeats, another draw differs.
    n = len(files)
    a = source.example(tf.constant(3, tf.int64), train_split)["image"]
    b = source.example(tf.constant(3, tf.int64), train_split)["image"]
    c = source.example(tf.constant(3 + n, tf.int64), train_split)["image"]
    assert a.shape == (224, 224, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.abs(a.numpy() - c.numpy()).max() > 0.1
    # Values are normalised pixels, not [0, 1].
    low, high = (0 - MEAN) / STD, (1 - MEAN) / STD
    assert (a.numpy() >= low - 1e-5).all() and (a.numpy() <= high + 1e-5).all()
    assert a.numpy().min() < -0.5
    # A resumed pipeline repeats the draws of an uninterrupted one.
    full = _images(source, train_split, seed=5, repeat=False)
    resumed = _images(source, train_split, seed=5, repeat=False, start_step=7)
    np.testing.assert_array_equal(np.stack(full[7:]), np.stack(resumed))
    assert source.num_examples(train_split) == 30 * n


def test_imagenet_to_sketch_config_input(tmp_path):
    train = _write_split(str(tmp_path / "train"), 0)
    test = _write_split(str(tmp_path / "test"), 1)
    del train
    source = _data(
        "gin_configs/taps/imagenet_to_sketch_resnet50.gin",
        [f"DATASET_DIR = '{tmp_path}'"],
    )
    _check(source, "test", "train", test)


@pytest.mark.parametrize(
    "gin_file,bindings",
    [
        ("gin_configs/taps/domainnet_resnet34.gin", ["DOMAIN = 'sketch'"]),
        (
            "gin_configs/taps/domainnet_joint_resnet34.gin",
            ["DOMAINS = ['sketch']"],
        ),
    ],
)
def test_domainnet_config_input(tmp_path, gin_file, bindings):
    _write_split(str(tmp_path / "sketch" / "train"), 0)
    test = _write_split(str(tmp_path / "sketch" / "test"), 1)
    source = _data(gin_file, [f"DOMAINNET_ROOT = '{tmp_path}'", *bindings])
    _check(source, "sketch/test", "sketch/train", test)


def test_train_draws_vary_with_the_seed(tmp_path):
    from tfmtl.data.image_folder import ImageFolder

    _write_split(str(tmp_path / "train"), 0)
    images = [
        ImageFolder(tmp_path, augment="crop", seed=seed, variants=2)
        .example(tf.constant(2, tf.int64), "train")["image"]
        .numpy()
        for seed in (0, 1)
    ]
    assert np.abs(images[0] - images[1]).max() > 0.1


def test_resize_mode_flips_a_squashed_image(tmp_path):
    """`--cropped`: Resize([224, 224]) (+ flip in training), normalised."""
    from tfmtl.data.image_folder import ImageFolder

    path = tmp_path / "train" / "a" / "0.png"
    os.makedirs(path.parent)
    pixels = np.zeros((100, 50, 3), np.uint8)
    pixels[:, :25] = 255  # left half white
    tf.io.write_file(str(path), tf.io.encode_png(pixels))
    source = ImageFolder(tmp_path, augment="resize", variants=16)
    white, black = (1 - MEAN) / STD, (0 - MEAN) / STD
    flipped = []
    for i in range(16):
        image = source.example(tf.constant(i, tf.int64), "train")["image"]
        image = image.numpy()
        assert image.shape == (224, 224, 3)
        left, right = image[:, :100], image[:, 124:]
        if np.allclose(left, white, atol=1e-4):
            np.testing.assert_allclose(
                right, np.broadcast_to(black, right.shape), atol=1e-4
            )
            flipped.append(False)
        else:
            np.testing.assert_allclose(
                left, np.broadcast_to(black, left.shape), atol=1e-4
            )
            np.testing.assert_allclose(
                right, np.broadcast_to(white, right.shape), atol=1e-4
            )
            flipped.append(True)
    assert 0 < sum(flipped) < 16


def test_bad_augment_is_refused(tmp_path):
    from tfmtl.data.domainnet import DomainNet
    from tfmtl.data.image_folder import ImageFolder

    with pytest.raises(ValueError, match="augment"):
        ImageFolder(tmp_path, augment="random")
    with pytest.raises(ValueError, match="variants"):
        ImageFolder(tmp_path, augment="crop", variants=0)
    with pytest.raises(ValueError, match="backend"):
        DomainNet(backend="tfds", augment="crop")
