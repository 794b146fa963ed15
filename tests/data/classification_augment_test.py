"""TAPS classification augmentation against float64 numpy definitions.

Reference: torchvision `RandomResizedCrop.get_params` (scale (0.08, 1),
ratio (3/4, 4/3), 10 tries, centre-crop fallback), `Resize` (shorter side,
long side `int(size * long / short)`), `CenterCrop`
(`top = int(round((H - h) / 2))`); used by TAPS `utils.create_transforms`.
"""

import math

import numpy as np
import tensorflow as tf

from tfmtl.data import classification_augment as aug


def _numpy_box(rng, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        return int(round(width / ratio[0])), width
    if in_ratio > ratio[1]:
        return height, int(round(height * ratio[1]))
    return height, width


def _stats(boxes, height, width):
    boxes = np.asarray(boxes, np.float64)
    area = boxes[:, 0] * boxes[:, 1] / (height * width)
    log_aspect = np.log(boxes[:, 1] / boxes[:, 0])
    return area, log_aspect


def test_crop_area_and_log_aspect_match_the_definition():
    height, width, n = 120, 200, 1500
    ours = []
    for k in range(n):
        top, left, h, w = aug.crop_box(
            tf.constant(height), tf.constant(width), tf.constant([7, k])
        )
        top, left, h, w = int(top), int(left), int(h), int(w)
        assert 0 <= top <= height - h and 0 <= left <= width - w
        ours.append((h, w))
    rng = np.random.default_rng(0)
    ref = [_numpy_box(rng, height, width) for _ in range(20000)]
    a_ours, r_ours = _stats(ours, height, width)
    a_ref, r_ref = _stats(ref, height, width)
    # Means within ~4 standard errors; quantiles within 0.03.
    for x, y in ((a_ours, a_ref), (r_ours, r_ref)):
        assert abs(x.mean() - y.mean()) < 4 * y.std() / math.sqrt(n)
        q = [0.1, 0.25, 0.5, 0.75, 0.9]
        np.testing.assert_allclose(
            np.quantile(x, q), np.quantile(y, q), atol=0.03
        )
    assert a_ours.min() >= 0.07 and a_ours.max() <= 1.0
    assert np.abs(r_ours).max() <= math.log(4 / 3) + 0.02


def test_fallback_is_the_centred_closest_aspect():
    # A 10 x 100 strip: no candidate fits, so the fallback (h=10, w=13).
    top, left, h, w = aug.crop_box(
        tf.constant(10), tf.constant(100), tf.constant([1, 2]), scale=(0.9, 1)
    )
    assert (int(h), int(w)) == (10, round(10 * 4 / 3))
    assert (int(top), int(left)) == (0, (100 - 13) // 2)


def test_train_transform_flips_half_the_time():
    # scale = ratio = 1 on a square image: the crop is the whole image and
    # the resize is the identity, so each output is the image or its mirror.
    image = tf.random.uniform((16, 16, 3), seed=1)
    flips = 0
    for k in range(200):
        out = aug.train_transform(
            image, 16, tf.constant([3, k]), scale=(1, 1), ratio=(1, 1)
        ).numpy()
        if np.allclose(out, image.numpy()[:, ::-1], atol=1e-5):
            flips += 1
        else:
            np.testing.assert_allclose(out, image.numpy(), atol=1e-5)
    assert 70 <= flips <= 130  # Binomial(200, 1/2): mean 100, sd ~7.


def test_resize_center_crop_exact_vs_numpy():
    # Shorter side already 8: Resize(8) keeps the image (long side
    # int(8 * 13 / 8) = 13), then CenterCrop(5): top round(3 / 2) = 2,
    # left round(8 / 2) = 4.
    image = np.arange(8 * 13 * 3, dtype=np.float64).reshape(8, 13, 3) / 312
    out = aug.test_transform(tf.constant(image, tf.float32), 5, resize=8)
    np.testing.assert_allclose(out.numpy(), image[2:7, 4:9], rtol=1e-6)
    # A 9 x 6 image, Resize(4) then CenterCrop(4): shape 6 x 4 -> 4 x 4.
    out = aug.test_transform(tf.zeros((9, 6, 3)), 4)
    assert out.shape == (4, 4, 3)
    assert aug.resize_shorter(tf.zeros((9, 6, 3)), 4).shape == (6, 4, 3)


def test_normalize_is_imagenet_mean_std():
    x = tf.fill((1, 1, 3), 0.5)
    expected = (0.5 - np.array(aug.IMAGENET_MEAN)) / np.array(aug.IMAGENET_STD)
    np.testing.assert_allclose(aug.normalize(x).numpy()[0, 0], expected, 1e-6)
