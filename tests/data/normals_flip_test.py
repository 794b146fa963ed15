"""Mirroring normals: the flip of a surface's normals is the flipped
surface's normals, under each data source's channel convention.

Independent float64 geometry: a random smooth depth surface d(u, v), its
normals normalize(dd/du, -dd/dv, 1) (the `SyntheticScenes` frame: x right,
y up, z towards the camera, x in channel 0), stored as each source stores
them on disk (uint8 (n + 1) / 2 * 255) and decoded as each source decodes
them. Mirroring the surface, d'(u, v) = d(W - 1 - u, v), and recomputing
its normals must give what `DenseAugment` makes of the original normals
when it flips. The references (NDDR-CNN `util/img_encoder_mt.py::
image_mirroring`, MTL-NAS `core/data/loader.py`) reverse the columns only,
which is `normals_flip="none"` and fails this property.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data.augment import DenseAugment
from tfmtl.data.nyuv2 import encoded_normals

H, W = 6, 9


def _surface(seed):
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    depth = 3.0
    for _ in range(3):
        a, b, c, p = rng.normal(size=4)
        depth = depth + 0.4 * a * np.sin(0.5 * b * u + 0.4 * c * v + p)
    return depth


def _normals(depth):
    dd_dv, dd_du = np.gradient(depth)
    n = np.stack([dd_du, -dd_dv, np.ones_like(depth)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _png(normals):
    return np.round((normals + 1.0) / 2.0 * 255.0).astype(np.uint8)


def _png_mirrored(normals):
    # What a renderer of the mirrored surface would store: x and the
    # columns mirrored; 255 - v is the exact uint8 encoding of -x.
    png = _png(normals)[:, ::-1].copy()
    png[..., 0] = 255 - png[..., 0]
    return png


# Per source: (decoder of the uint8 PNG as in its `example`, flip mode).
SOURCES = {
    "nyuv2_decoded": (lambda p: encoded_normals(p, "decoded"), "negate"),
    "nyuv2_adashare": (lambda p: encoded_normals(p, "adashare"), "encoded"),
    "nyuv2_list": (lambda p: tf.cast(p, tf.float32) / 127.5 - 1.0, "negate"),
    "taskonomy": (
        lambda p: tf.cast(p, tf.float32) / 255.0 * 2.0 - 1.0,
        "negate",
    ),
}


def _flip(normals, mode, image=None):
    augment = DenseAugment(
        (H, W), scale_range=(1, 1), flip_probability=1.0, normals_flip=mode
    )
    if image is None:
        image = np.zeros((H, W, 3), np.float32)
    example = {"image": image, "labels": {"normals": normals}}
    out = augment(example, tf.constant([0, 1]), {"normals": "normals"})
    return out["image"].numpy(), out["labels"]["normals"].numpy()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_flipped_normals_are_the_mirrored_surface_normals(source):
    decode, mode = SOURCES[source]
    n = _normals(_surface(0))
    mirrored = _normals(_surface(0)[:, ::-1])
    # The geometry itself: mirroring negates x and reverses the columns.
    np.testing.assert_allclose(mirrored[..., 0], -n[:, ::-1, 0], atol=1e-12)
    labels = decode(tf.constant(_png(n))).numpy()
    expected = decode(tf.constant(_png_mirrored(n))).numpy()
    _, flipped = _flip(labels, mode)
    np.testing.assert_allclose(flipped, expected, atol=1e-6)
    # Reversing the columns alone (the references) is wrong here.
    _, columns_only = _flip(labels, "none")
    assert np.abs(columns_only - expected).max() > 0.05


def test_synthetic_frame_and_shading_of_the_flipped_image():
    # SyntheticScenes' float normals: the image shaded under a light whose x
    # is mirrored too is the flipped image of the mirrored surface.
    depth = _surface(1)
    n = _normals(depth).astype(np.float32)
    light = np.array([0.3, 0.5, 0.8])
    shade = np.clip(_normals(depth) @ light, 0, 1)
    image = np.repeat(shade[..., None], 3, -1).astype(np.float32)
    flipped_image, flipped = _flip(n, "negate", image)
    mirrored = _normals(depth[:, ::-1])
    np.testing.assert_allclose(flipped, mirrored, atol=1e-6)
    mirrored_light = light * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        flipped_image[..., 0],
        np.clip(mirrored @ mirrored_light, 0, 1),
        atol=1e-6,
    )
    # Invalid pixels (all zero) stay invalid in both flip modes.
    n[2, 3] = 0.0
    for mode in ("negate", "encoded"):
        _, out = _flip(n, mode)
        np.testing.assert_array_equal(out[2, W - 1 - 3], 0.0)
