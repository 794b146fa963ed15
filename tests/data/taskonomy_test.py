"""Tiny-Taskonomy in the AdaShare folder layout, on tiny generated files."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import make_dataset
from tfmtl.data.taskonomy import Taskonomy

S = 4
FOLDERS = (
    "rgb",
    "segment_semantic",
    "normal",
    "depth_zbuffer",
    "keypoints2d",
    "edge_texture",
)


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(array))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("taskonomy")
    rng = np.random.default_rng(0)
    entries = []
    for i in range(3):
        arrays = {
            "rgb": rng.integers(0, 256, (S, S, 3), dtype=np.uint8),
            "segment_semantic": rng.integers(0, 18, (S, S, 1)).astype(np.uint8),
            "normal": rng.integers(0, 256, (S, S, 3), dtype=np.uint8),
            "depth_zbuffer": rng.integers(0, 60000, (S, S, 1)).astype(
                np.uint16
            ),
            "keypoints2d": rng.integers(0, 700, (S, S, 1)).astype(np.uint16),
            "edge_texture": rng.integers(0, 8000, (S, S, 1)).astype(np.uint16),
        }
        arrays["segment_semantic"][0, 0] = 0
        arrays["segment_semantic"][0, 1] = 1
        arrays["depth_zbuffer"][1, 1] = 65535  # invalid
        row = []
        for folder in FOLDERS:
            name = f"{folder}/point_{i}_{folder}.png"
            _write_png(root / name, arrays[folder])
            row.append(name)
        entries.append(row)
    index = {
        "train": entries[:2],
        "train1": entries[:1],
        "train2": entries[1:2],
        "test": entries[2:],
        "test_small": entries[2:],
    }
    (root / "taskonomy.json").write_text(json.dumps(index))
    return root


def _raw(root, folder, i=0):
    path = root / folder / f"point_{i}_{folder}.png"
    dtype = tf.uint8 if folder in FOLDERS[:3] else tf.uint16
    return tf.io.decode_png(tf.io.read_file(str(path)), dtype=dtype).numpy()


def test_targets_are_processed_as_the_reference(data_dir):
    source = Taskonomy(str(data_dir), image_size=S)
    ex = source.example(tf.constant(0, tf.int64), "train")
    labels = {k: v.numpy() for k, v in ex["labels"].items()}
    np.testing.assert_allclose(ex["image"], _raw(data_dir, "rgb") / 255.0)
    seg = _raw(data_dir, "segment_semantic")[..., 0].astype(np.int32)
    np.testing.assert_array_equal(
        labels["segmentation"], np.maximum(seg, 1) - 1
    )
    assert labels["segmentation"][0, 0] == labels["segmentation"][0, 1] == 0
    depth = _raw(data_dir, "depth_zbuffer").astype(np.float64)
    expected = np.log1p(depth) / math.log(2**16)
    expected[depth >= 64500] = 0.0
    np.testing.assert_allclose(labels["depth"], expected, rtol=1e-5)
    assert labels["depth"][1, 1, 0] == 0.0
    normals = _raw(data_dir, "normal") / 255.0 * 2 - 1
    normals[1, 1] = 0.0  # masked where the depth is invalid
    np.testing.assert_allclose(labels["normals"], normals, atol=1e-6)
    keypoints = np.clip(_raw(data_dir, "keypoints2d") / 2**16, 0, 0.005)
    np.testing.assert_allclose(
        labels["keypoints"], keypoints / 0.005 * 2 - 1, atol=1e-5
    )
    edges = np.clip(_raw(data_dir, "edge_texture") / 2**16, 0, 0.08)
    np.testing.assert_allclose(labels["edges"], edges / 0.08 * 2 - 1, atol=1e-5)
    assert labels["edges"].min() >= -1 and labels["edges"].max() <= 1


def test_unmasked_normals_and_resizing(data_dir):
    source = Taskonomy(str(data_dir), image_size=2, mask_normals=False)
    ex = source.example(tf.constant(0, tf.int64), "test_small")
    assert ex["image"].shape == (2, 2, 3)
    assert np.all(np.abs(ex["labels"]["normals"].numpy()) > 0)
    batch = next(iter(make_dataset(source, "train", None, 2)))
    assert batch["labels"]["keypoints"].shape == (2, 2, 2, 1)


def test_semseg_prior_is_read_and_checked(tmp_path):
    from tfmtl.data import DataNotFoundError
    from tfmtl.data.taskonomy import read_semseg_prior

    with pytest.raises(DataNotFoundError, match="StanfordVL/taskonomy"):
        read_semseg_prior(str(tmp_path))
    prior = np.linspace(0.5, 2.0, 17)
    np.save(tmp_path / "semseg_prior_factor.npy", prior)
    np.testing.assert_array_equal(read_semseg_prior(str(tmp_path)), prior)
    np.save(tmp_path / "bad.npy", prior[:5])
    with pytest.raises(ValueError, match="expected 17"):
        read_semseg_prior(str(tmp_path), "bad.npy")


def test_keypoint_and_edge_losses_are_l1_over_all_pixels(data_dir):
    # As the reference: L1 mean of the rescaled [-1, 1] targets; only crop
    # padding (255) would be left out, and the [-1, 1] values never are.
    from tfmtl import tasks as tasks_lib

    source = Taskonomy(str(data_dir), image_size=S)
    batch = next(iter(make_dataset(source, "train", None, 2, shuffle=False)))
    built = tasks_lib.tasks_for(source, ["keypoints", "edges"])
    rng = np.random.default_rng(0)
    for task in built:
        labels = batch["labels"][task.name].numpy()
        preds = rng.uniform(-1, 1, labels.shape).astype(np.float32)
        expected = np.abs(preds - labels).mean(axis=(1, 2, 3))
        got = task.loss(labels, preds).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5)
