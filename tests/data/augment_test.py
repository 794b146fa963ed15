"""DenseAugment and the Augmented source: exact flips, crops, seeding."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses
from tfmtl.data import SyntheticScenes, make_dataset
from tfmtl.data.augment import DenseAugment
from tfmtl.data.augmented import Augmented

H, W = 6, 8
KINDS = {
    "segmentation": "segmentation",
    "depth": "depth",
    "normals": "normals",
    "edges": "regression",
    "attr": "binary",
}


def _example(seed=0):
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(H, W, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[0, 0] = 0.0  # invalid pixel
    depth = rng.uniform(1.0, 3.0, (H, W, 1))
    depth[1, 1] = 0.0  # invalid pixel
    seg = rng.integers(0, 5, (H, W))
    seg[2, 3] = 255
    return {
        "image": tf.constant(rng.uniform(size=(H, W, 3)), tf.float32),
        "labels": {
            "segmentation": tf.constant(seg, tf.int32),
            "depth": tf.constant(depth, tf.float32),
            "normals": tf.constant(normals, tf.float32),
            "edges": tf.constant(rng.uniform(-1, 1, (H, W, 1)), tf.float32),
            "attr": tf.constant(1, tf.int32),
        },
    }


def _np(example):
    return {
        "image": example["image"].numpy(),
        **{k: v.numpy() for k, v in example["labels"].items()},
    }


SEED = tf.constant([3, 4], tf.int64)


def test_flip_mirrors_labels_and_negates_normals_x():
    augment = DenseAugment((H, W), scale_range=(1, 1), flip_probability=1.0)
    before, after = _np(_example()), _np(augment(_example(), SEED, KINDS))
    for key in ("image", "segmentation", "depth", "edges"):
        np.testing.assert_array_equal(after[key], before[key][:, ::-1])
    mirrored = before["normals"][:, ::-1]
    np.testing.assert_array_equal(after["normals"][..., 0], -mirrored[..., 0])
    np.testing.assert_array_equal(after["normals"][..., 1:], mirrored[..., 1:])
    np.testing.assert_array_equal(after["normals"][0, -1], 0.0)  # invalid
    assert after["attr"] == 1
    # Never flipped with probability 0: the identity.
    augment = DenseAugment((H, W), scale_range=(1, 1), flip_probability=0.0)
    after = _np(augment(_example(), SEED, KINDS))
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


def test_encoded_normals_mirror_to_one_minus_x_and_compat_keeps_them():
    example = _example()
    encoded = (example["labels"]["normals"] + 1.0) / 2.0
    valid = tf.reduce_any(example["labels"]["normals"] != 0, -1)
    encoded = tf.where(valid[..., None], encoded, 0.0)
    example["labels"]["normals"] = encoded
    expected = encoded.numpy()[:, ::-1]
    flipped = DenseAugment(
        (H, W), (1, 1), flip_probability=1.0, normals_flip="encoded"
    )(example, SEED, KINDS)["labels"]["normals"].numpy()
    # (n + 1) / 2 of the mirrored normal (-x, y, z); invalid stays 0.
    ok = expected.any(axis=-1)
    np.testing.assert_allclose(flipped[ok, 0], 1.0 - expected[ok, 0])
    np.testing.assert_array_equal(flipped[0, -1], 0.0)
    np.testing.assert_array_equal(flipped[..., 1:], expected[..., 1:])
    compat = DenseAugment(
        (H, W), (1, 1), flip_probability=1.0, normals_flip="none"
    )(example, SEED, KINDS)["labels"]["normals"].numpy()
    np.testing.assert_array_equal(compat, expected)
    with pytest.raises(ValueError, match="normals_flip"):
        DenseAugment((H, W), normals_flip="sideways")


def test_crop_is_a_window_and_padding_marks_pixels_invalid():
    augment = DenseAugment((4, 5), scale_range=(1, 1), flip_probability=0.0)
    before = _np(_example())
    offsets = set()
    for i in range(20):
        after = _np(augment(_example(), tf.constant([0, i]), KINDS))
        assert after["image"].shape == (4, 5, 3)
        window = [
            (t, x)
            for t in range(H - 4 + 1)
            for x in range(W - 5 + 1)
            if np.array_equal(
                before["image"][t : t + 4, x : x + 5], after["image"]
            )
        ]
        assert len(window) == 1
        t, x = window[0]
        offsets.add((t, x))
        for key in ("segmentation", "depth", "normals", "edges"):
            np.testing.assert_array_equal(
                after[key], before[key][t : t + 4, x : x + 5]
            )
    assert len(offsets) > 3  # random offsets
    # A crop larger than the image pads bottom / right.
    big = _np(
        DenseAugment((H + 2, W + 3), (1, 1), 0.0)(_example(), SEED, KINDS)
    )
    np.testing.assert_array_equal(
        big["segmentation"][:H, :W], before["segmentation"]
    )
    assert (big["segmentation"][H:] == 255).all()
    assert (big["segmentation"][:, W:] == 255).all()
    for key in ("image", "depth", "normals"):
        assert (big[key][H:] == 0).all() and (big[key][:, W:] == 0).all()


def test_scaling_resamples_labels_by_nearest_neighbour():
    augment = DenseAugment((5, 7), scale_range=(0.5, 1.5))
    before = _np(_example())
    sizes = set()
    for i in range(10):
        example = _example()
        after = _np(augment(example, tf.constant([1, i]), KINDS))
        assert after["image"].shape == (5, 7, 3)
        assert after["segmentation"].shape == (5, 7)
        assert after["depth"].shape == (5, 7, 1)
        # Nearest neighbour: no new values (padding adds 255 / 0 only).
        seg = set(np.unique(after["segmentation"]))
        assert seg <= set(np.unique(before["segmentation"])) | {255}
        depth = set(np.unique(after["depth"]))
        assert depth <= set(np.unique(before["depth"])) | {0.0}
        norms = np.linalg.norm(after["normals"], axis=-1)
        np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
        sizes.add(after["image"].tobytes())
    assert len(sizes) == 10


def test_augmented_source_is_seeded_by_index_and_leaves_eval_alone():
    scenes = SyntheticScenes(
        image_size=12, num_train=6, num_validation=3, num_test=3
    )
    source = Augmented(
        scenes, DenseAugment((8, 8)), splits=("train",), variants=4
    )
    assert source.num_examples("train") == 24
    assert source.num_examples("validation") == 3
    assert source.tasks == scenes.tasks

    def train(i):
        return _np(source.example(tf.constant(i, tf.int64), "train"))

    first, again = train(2), train(2)
    for key, value in first.items():
        np.testing.assert_array_equal(again[key], value)
    assert first["image"].shape == (8, 8, 3)
    # Index 8 is example 2 under another draw.
    assert not np.array_equal(train(8)["image"], first["image"])
    assert not np.array_equal(train(3)["image"], first["image"])
    plain = _np(scenes.example(tf.constant(1, tf.int64), "validation"))
    evaluated = _np(source.example(tf.constant(1, tf.int64), "validation"))
    for key, value in plain.items():
        np.testing.assert_array_equal(evaluated[key], value)
    # A resumed pipeline sees the same augmented batches.
    fresh = list(make_dataset(source, "train", ["segmentation"], 4).take(3))
    resumed = next(
        iter(make_dataset(source, "train", ["segmentation"], 4, start_step=2))
    )
    np.testing.assert_array_equal(resumed["image"], fresh[2]["image"])
    with pytest.raises(ValueError, match="variants"):
        Augmented(scenes, DenseAugment((8, 8)), variants=0)


def test_regression_padding_carries_the_ignore_value():
    """Padded regression pixels hold `regression_ignore_value`.

    AdaShare's Taskonomy loader (`__random_crop_and_pad_image_and_labels__`
    of `dataloaders/taskonomy_dataloader.py`) pads every label with 255,
    which its keypoint / edge losses then leave out; the padded crop must
    score like the unpadded labels under the masked loss.
    """
    before = _np(_example())
    out = _np(
        DenseAugment((H + 2, W + 3), (1, 1), 0.0, regression_ignore_value=255)(
            _example(), SEED, KINDS
        )
    )
    edges = out["edges"]
    np.testing.assert_array_equal(edges[:H, :W], before["edges"])
    assert (edges[H:] == 255).all() and (edges[:, W:] == 255).all()
    preds = np.zeros_like(edges)
    masked = losses.regression_l1(edges[None], preds[None], ignore_value=255)
    expected = np.abs(before["edges"].astype(np.float64)).mean()
    np.testing.assert_allclose(masked.numpy(), [expected], rtol=1e-5)
    # Default: padded with 0, as before.
    plain = DenseAugment((H + 2, W + 3), (1, 1), 0.0)
    plain = _np(plain(_example(), SEED, KINDS))["edges"]
    assert (plain[H:] == 0).all() and (plain[:, W:] == 0).all()
    with pytest.raises(ValueError):
        DenseAugment((4, 4), regression_ignore_value="x")


def _reference_pad_canvas(label, crop_h, crop_w, pad_value):
    """float64 numpy of the padding in AdaShare's loaders.

    `__random_crop_and_pad_image_and_labels__` of
    `dataloaders/taskonomy_dataloader.py` (and the NYUv2 / CityScapes
    loaders) in github.com/sunxm2357/AdaShare: a canvas of
    `max(size, crop)` per side holds the image at offset
    `(canvas - size) // 2`, and the crop is a random window of it.
    """
    h, w = label.shape[:2]
    ph, pw = max(h, crop_h), max(w, crop_w)
    canvas = np.full((ph, pw) + label.shape[2:], pad_value, np.float64)
    top, left = (ph - h) // 2, (pw - w) // 2
    canvas[top : top + h, left : left + w] = label
    return canvas


def test_center_padding_places_the_image_as_the_reference():
    before = _np(_example())
    for crop in ((H + 3, W + 2), (H - 2, W + 3)):
        augment = DenseAugment(
            crop, (1, 1), 0.0, regression_ignore_value=255, center_padding=True
        )
        for i in range(4):
            out = _np(augment(_example(), tf.constant([2, i]), KINDS))
            for key, pad in (
                ("segmentation", 255),
                ("edges", 255.0),
                ("depth", 0.0),
                ("image", 0.0),
            ):
                canvas = _reference_pad_canvas(before[key], *crop, pad)
                windows = [
                    t
                    for t in range(canvas.shape[0] - crop[0] + 1)
                    if np.array_equal(canvas[t : t + crop[0]], out[key])
                ]
                assert windows, (crop, key)
    # The default keeps the image at the top left.
    plain = _np(
        DenseAugment((H + 3, W + 2), (1, 1), 0.0)(_example(), SEED, KINDS)
    )
    np.testing.assert_array_equal(plain["depth"][:H, :W], before["depth"])
