"""Classification augmentation of the TAPS reference (torchvision semantics).

Training: `RandomResizedCrop(size)` (scale (0.08, 1), ratio (3/4, 4/3), ten
tries, then a centre crop of the closest allowed aspect) and a horizontal
flip with probability 1/2; test: `Resize(resize)` (shorter side) then
`CenterCrop(size)`; both then normalise with the ImageNet mean / std.

Reference: torchvision `transforms.RandomResizedCrop.get_params`,
`transforms.Resize`, `transforms.CenterCrop`; TAPS `utils.create_transforms`
(github.com/MattWallingford/TAPS).
"""

import math

import tensorflow as tf

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_TRIES = 10


def crop_box(height, width, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """`(top, left, h, w)` int32 scalars of a RandomResizedCrop box.

    Args:
        height, width: int32 scalar tensors, the image size.
        seed: int tensor [2], a stateless seed.
        scale: range of the crop's area fraction.
        ratio: range of the crop's aspect ratio (width / height).
    """
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"Bad scale range {scale}.")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"Bad ratio range {ratio}.")
    h_img = tf.cast(height, tf.float64)
    w_img = tf.cast(width, tf.float64)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    area = (
        h_img
        * w_img
        * tf.random.stateless_uniform(
            [_TRIES], seeds[0], scale[0], scale[1], tf.float64
        )
    )
    log_aspect = tf.random.stateless_uniform(
        [_TRIES], seeds[1], math.log(ratio[0]), math.log(ratio[1]), tf.float64
    )
    aspect = tf.exp(log_aspect)
    w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
    # Fallback: the whole image, cut to the nearest allowed aspect.
    in_ratio = w_img / h_img
    fall_w = tf.where(in_ratio > ratio[1], tf.round(h_img * ratio[1]), w_img)
    fall_h = tf.where(in_ratio < ratio[0], tf.round(w_img / ratio[0]), h_img)
    h = tf.where(ok[first], h[first], tf.cast(fall_h, tf.int32))
    w = tf.where(ok[first], w[first], tf.cast(fall_w, tf.int32))
    u = tf.random.stateless_uniform([2], seeds[2], 0.0, 1.0, tf.float64)
    top_rand = tf.cast(
        tf.floor(u[0] * tf.cast(height - h + 1, tf.float64)), tf.int32
    )
    left_rand = tf.cast(
        tf.floor(u[1] * tf.cast(width - w + 1, tf.float64)), tf.int32
    )
    top = tf.where(ok[first], top_rand, (height - h) // 2)
    left = tf.where(ok[first], left_rand, (width - w) // 2)
    return top, left, h, w


def train_transform(image, size, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """RandomResizedCrop(size) + random horizontal flip of a [H, W, 3] image."""
    shape = tf.shape(image)
    top, left, h, w = crop_box(shape[0], shape[1], seed, scale, ratio)
    crop = image[top : top + h, left : left + w]
    crop = tf.image.resize(crop, [size, size], antialias=True)
    flip_seed = tf.random.experimental.stateless_split(seed, 4)[3]
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    crop = tf.cond(flip, lambda: tf.reverse(crop, [1]), lambda: crop)
    crop.set_shape([size, size, image.shape[-1]])
    return crop


def resize_shorter(image, size):
    """torchvision `Resize(size)`: shorter side to `size`, aspect kept."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    short = tf.minimum(h, w)
    # Long side: int(size * long / short), as torchvision computes it.
    scaled_h = tf.where(h <= w, size, (size * h) // short)
    scaled_w = tf.where(h <= w, (size * w) // short, size)
    same = (scaled_h == h) & (scaled_w == w)
    return tf.cond(
        same,
        lambda: tf.cast(image, tf.float32),
        lambda: tf.image.resize(image, [scaled_h, scaled_w], antialias=True),
    )


def center_crop(image, size):
    """torchvision `CenterCrop(size)` (top = round((H - size) / 2))."""
    shape = tf.shape(image)
    top = tf.cast(tf.round(tf.cast(shape[0] - size, tf.float64) / 2), tf.int32)
    left = tf.cast(tf.round(tf.cast(shape[1] - size, tf.float64) / 2), tf.int32)
    crop = image[top : top + size, left : left + size]
    crop.set_shape([size, size, image.shape[-1]])
    return crop


def test_transform(image, size, resize=None):
    """Resize(resize or size) + CenterCrop(size) of a [H, W, 3] image."""
    return center_crop(resize_shorter(image, resize or size), size)


def normalize(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """`(image - mean) / std` per channel (image in [0, 1])."""
    return (image - tf.constant(mean, image.dtype)) / tf.constant(
        std, image.dtype
    )


AUGMENTS = ("crop", "resize")


def taps_image(image, size, train, seed, augment="crop"):
    """The TAPS input of a decoded [H, W, 3] image in [0, 1], normalised.

    Args:
        image: float [H, W, 3] in [0, 1], at its native size.
        size: side of the square output.
        train: apply the training transform (else the test transform).
        seed: int64 tensor [2], the stateless seed of the training draws.
        augment: `"crop"` (train: RandomResizedCrop + flip; test: Resize of
            the shorter side + CenterCrop) or `"resize"` (the reference's
            `--cropped`: Resize([size, size]), plus a flip in training).
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}: {augment!r}")
    # compat: the reference resizes 8-bit PIL images, then scales to [0, 1];
    # here the decoded float image is resized (no rounding to 8 bits).
    if augment == "crop":
        if train:
            image = train_transform(image, size, seed)
        else:
            image = test_transform(image, size)
    else:
        image = tf.image.resize(image, [size, size], antialias=True)
        if train:
            flip_seed = tf.random.experimental.stateless_split(seed, 4)[3]
            flip = tf.random.stateless_uniform([], flip_seed) < 0.5
            image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    image.set_shape([size, size, 3])
    return normalize(tf.cast(image, tf.float32))
