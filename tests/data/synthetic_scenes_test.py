"""Tests for tfmtl.data.SyntheticScenes."""

import colorsys

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import SyntheticScenes


def _batch(source, count, split="train", start=0):
    indices = tf.data.Dataset.range(start, start + count)
    examples = source.make_examples(indices, split).batch(count)
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(examples)))


def _neighbour_differs(array):
    """True where a 4-neighbour (edge-replicated) differs from the pixel."""
    padded = np.pad(array, 1, mode="edge")
    out = np.zeros(array.shape, bool)
    h, w = array.shape
    for di, dj in ((0, 1), (2, 1), (1, 0), (1, 2)):
        out |= padded[di : di + h, dj : dj + w] != array
    return out


def test_same_index_same_example_and_seeds_differ():
    source = SyntheticScenes(image_size=16)
    single = tf.data.Dataset.from_tensors(tf.constant(7, tf.int64))
    a = next(iter(source.make_examples(single, "train")))
    a = tf.nest.map_structure(lambda t: t.numpy(), a)
    batch = _batch(source, 8)
    b = tf.nest.map_structure(lambda t: t[7], batch)
    again = tf.nest.map_structure(lambda t: t[2], _batch(source, 8, start=5))
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    tf.nest.map_structure(np.testing.assert_array_equal, b, again)
    other_seed = _batch(SyntheticScenes(image_size=16, seed=1), 8)
    other_split = _batch(source, 8, split="validation")
    for other in (other_seed, other_split):
        assert not np.allclose(other["image"], batch["image"])
    assert not np.allclose(batch["image"][0], batch["image"][1])


def test_shapes_dtypes_and_ranges():
    size = 24
    source = SyntheticScenes(image_size=size, num_classes=5)
    batch = _batch(source, 64)
    labels = batch["labels"]
    assert set(labels) == set(source.tasks)
    assert batch["image"].shape == (64, size, size, 3)
    assert batch["image"].dtype == np.float32
    assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0
    seg = labels["segmentation"]
    assert seg.shape == (64, size, size) and seg.dtype == np.int32
    assert set(np.unique(seg)) == {0, 1, 2, 3, 4}
    depth = labels["depth"]
    assert depth.shape == (64, size, size, 1) and depth.dtype == np.float32
    assert depth.min() >= 2.0 and depth.max() <= 11.0
    np.testing.assert_allclose(depth[seg == 0], depth[seg == 0].clip(9, 11))
    normals = labels["normals"]
    assert normals.shape == (64, size, size, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1, atol=1e-5)
    assert normals[..., 2].min() >= 0.0  # facing the camera
    assert set(np.unique(labels["edges"])) == {0.0, 1.0}
    for name, kind in source.task_kinds.items():
        if kind == "binary":
            assert labels[name].dtype == np.int32 and labels[name].shape == (
                64,
            )
            assert set(np.unique(labels[name])) == {0, 1}
    three = _batch(SyntheticScenes(image_size=size, num_classes=3), 64)
    assert set(np.unique(three["labels"]["segmentation"])) == {0, 1, 2}
    with pytest.raises(ValueError, match="split"):
        source.example(0, "holdout")


def test_normals_match_finite_differences_of_depth():
    size = 48
    batch = _batch(SyntheticScenes(image_size=size), 16)
    step = 2.0 / size
    checked = 0
    for i in range(16):
        depth = batch["labels"]["depth"][i, ..., 0].astype(np.float64)
        normals = batch["labels"]["normals"][i]
        edges = batch["labels"]["edges"][i, ..., 0] > 0
        d_x = (depth[1:-1, 2:] - depth[1:-1, :-2]) / (2 * step)
        d_y = (depth[2:, 1:-1] - depth[:-2, 1:-1]) / (2 * step)
        expected = np.stack([d_x, -d_y, np.ones_like(d_x)], -1)
        expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
        inner = normals[1:-1, 1:-1]
        # Pixels whose 4-neighbours are on the same surface; on domes keep
        # the centre part where central differences are accurate.
        keep = ~edges[1:-1, 1:-1] & (inner[..., 2] > 0.8)
        cosine = np.sum(expected * inner, -1)[keep]
        assert cosine.min() > 0.995
        checked += keep.sum()
        flat = keep & (batch["labels"]["segmentation"][i, 1:-1, 1:-1] != 1)
        np.testing.assert_allclose(expected[flat], inner[flat], atol=2e-3)
    assert checked > 16 * size * size // 2


def test_edges_are_object_boundaries():
    size = 40
    batch = _batch(SyntheticScenes(image_size=size), 32)
    for i in range(32):
        seg = batch["labels"]["segmentation"][i]
        depth = batch["labels"]["depth"][i, ..., 0]
        edges = batch["labels"]["edges"][i, ..., 0] > 0
        # Every segmentation boundary is an edge.
        assert not (_neighbour_differs(seg) & ~edges).any()
        # Edges are exactly the depth discontinuities between surfaces
        # (layers are >= 0.24 apart; steps within a surface are < 0.2).
        padded = np.pad(depth, 1, mode="edge")
        jump = np.zeros_like(edges)
        for di, dj in ((0, 1), (2, 1), (1, 0), (1, 2)):
            step = np.abs(padded[di : di + size, dj : dj + size] - depth)
            jump |= step > 0.2
        np.testing.assert_array_equal(edges, jump)


def test_planted_attribute_groups():
    source = SyntheticScenes(image_size=32)
    batch = _batch(source, 600, split="validation")
    labels = batch["labels"]
    groups = source.planted_groups()
    names = [name for group in groups for name in group]
    assert sorted(names) == sorted(
        t for t, k in source.task_kinds.items() if k == "binary"
    )
    corr = np.corrcoef(np.stack([labels[n] for n in names]).astype(float))
    group_of = {n: g for g, group in enumerate(groups) for n in group}
    for i, a in enumerate(names):
        for j, b in enumerate(names[:i]):
            if group_of[a] == group_of[b]:
                assert abs(corr[i, j]) > 0.5, (a, b, corr[i, j])
            elif group_of[a] != group_of[b]:
                assert abs(corr[i, j]) < 0.15, (a, b, corr[i, j])


def test_attributes_are_visible_in_the_image():
    source = SyntheticScenes(image_size=32)
    batch = _batch(source, 100, split="test")
    labels, images = batch["labels"], batch["image"]
    seg = labels["segmentation"]
    fraction = (seg == 1).mean(axis=(1, 2))
    for k, threshold in enumerate((0.098, 0.108, 0.118)):
        np.testing.assert_array_equal(
            labels[f"attr_a{k}"], fraction > threshold
        )
    for i in range(100):
        shape_pixels = images[i][seg[i] > 0]
        hues = [colorsys.rgb_to_hsv(*p)[0] for p in shape_pixels[:20]]
        factor = np.median(hues) / 0.62
        for k, threshold in enumerate((0.47, 0.5, 0.53)):
            if abs(factor - threshold) > 1e-3:
                assert labels[f"attr_b{k}"][i] == (factor > threshold)
        background = images[i][seg[i] == 0][:, 0]
        lightness = background.max()  # the unstriped tone
        for name, threshold in (("c0", 0.5), ("c2", 0.479), ("c3", 0.521)):
            if abs(lightness - threshold) > 1e-3:
                assert labels[f"attr_{name}"][i] == (lightness > threshold)
        tones = np.unique(np.round(background, 5))
        assert labels["attr_c1"][i] == (len(tones) > 1)
