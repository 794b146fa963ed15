"""NYUv2 in the AdaShare formatted layout, on tiny generated files."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.nyuv2 import NYUv2
from tfmtl.testing import write_nyuv2_layout

H, W = 4, 6


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(4):
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        seg = rng.integers(0, 40, (H, W, 1)).astype(np.uint8)
        seg[0, 0] = 255
        normal = rng.normal(size=(H, W, 3))
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        encoded = np.round((normal + 1) / 2 * 254).astype(np.uint8)
        encoded[1, :] = 255  # invalid row
        depth = rng.uniform(1, 3, (H, W)).astype(np.float32)
        depth[2, 2] = 0.0
        examples.append(
            {"img": image, "seg": seg, "normal_mask": encoded, "depth": depth}
        )
    splits = {"train": (0, 3), "train1": (0, 2), "train2": (2, 3)}
    write_nyuv2_layout(root, examples, {**splits, "test": (3, 4)})
    return root


def _raw(data_dir, i, folder, ext="png"):
    path = data_dir / folder / f"{i:04d}.{ext}"
    if ext == "npy":
        return np.load(path)
    return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def test_reads_every_target(data_dir):
    source = NYUv2(str(data_dir), image_shape=(H, W))
    assert source.num_examples("train1") == 2
    assert source.num_examples("validation") == 1  # the test split
    ex = source.example(tf.constant(1, tf.int64), "train")
    np.testing.assert_allclose(
        ex["image"], _raw(data_dir, 1, "img") / 255.0, atol=1e-6
    )
    seg = ex["labels"]["segmentation"].numpy()
    assert seg.dtype == np.int32 and seg[0, 0] == 255
    np.testing.assert_array_equal(seg, _raw(data_dir, 1, "seg")[..., 0])
    np.testing.assert_allclose(
        ex["labels"]["depth"][..., 0], _raw(data_dir, 1, "depth", "npy")
    )
    normals = ex["labels"]["normals"].numpy()
    np.testing.assert_array_equal(normals[1], 0.0)  # invalid
    valid = np.delete(normals, 1, axis=0)
    np.testing.assert_allclose(np.linalg.norm(valid, axis=-1), 1.0, atol=1e-5)
    encoded = np.delete(_raw(data_dir, 1, "normal_mask"), 1, axis=0)
    decoded = encoded / 255.0 * 2 - 1
    decoded /= np.linalg.norm(decoded, axis=-1, keepdims=True)
    np.testing.assert_allclose(valid, decoded, atol=1e-5)


def test_adashare_normals_encoding_keeps_the_encoded_vector(data_dir):
    source = NYUv2(
        str(data_dir), normals_encoding="adashare", image_shape=(H, W)
    )
    normals = source.example(tf.constant(0, tf.int64), "test")["labels"][
        "normals"
    ].numpy()
    raw = _raw(data_dir, 3, "normal_mask") / 255.0
    np.testing.assert_array_equal(normals[1], 0.0)
    np.testing.assert_allclose(normals[0], raw[0], atol=1e-6)
    assert normals.min() >= 0.0  # not re-centred: the reference quirk


def test_pipeline_and_errors(data_dir, tmp_path):
    source = NYUv2(str(data_dir), image_shape=(H, W))
    batch = next(iter(make_dataset(source, "train", None, 2)))
    # Static shapes: a model can be built from the element spec.
    spec = make_dataset(source, "train", None, 2).element_spec
    assert spec["image"].shape == (2, H, W, 3)
    assert spec["labels"]["segmentation"].shape == (2, H, W)
    assert batch["image"].shape == (2, H, W, 3)
    assert batch["labels"]["normals"].shape == (2, H, W, 3)
    with pytest.raises(DataNotFoundError):
        NYUv2(str(tmp_path))
    with pytest.raises(ValueError, match="split"):
        source.num_examples("nope")
    with pytest.raises(ValueError, match="normals_encoding"):
        NYUv2(str(data_dir), normals_encoding="raw")
