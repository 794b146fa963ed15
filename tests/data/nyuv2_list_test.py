"""NYUv2List on generated tiny list files and PNGs."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.nyuv2_list import NYUv2List


def _write_png(path, array):
    tf.io.gfile.makedirs(str(path.parent))
    path.write_bytes(tf.io.encode_png(array).numpy())


def _make_root(root, num_train=6, num_test=3):
    rng = np.random.default_rng(0)
    lists = {}
    for split, count in (("training", num_train), ("testing", num_test)):
        seg_lines, normal_lines = [], []
        for i in range(count):
            image = f"/nyu_train_val/{split}/image_{i}.png"
            seg = f"/nyu_train_val/{split}/seg_{i}.png"
            normal = f"/nyu_train_val/{split}/normal_{i}.png"
            _write_png(
                root / image[1:], rng.integers(0, 256, (6, 8, 3), np.uint8)
            )
            labels = rng.integers(0, 40, (6, 8, 1)).astype(np.uint8)
            labels[0, 0] = 255
            _write_png(root / seg[1:], labels)
            normals = np.zeros((6, 8, 3), np.uint8)
            normals[...] = (128, 128, 255)  # facing the camera
            normals[1, 2] = 255  # invalid pixel
            normals[i % 6, 7] = (255, 128, 128)  # pointing along +x
            _write_png(root / normal[1:], normals)
            seg_lines.append(f"{image} {seg}\n")
            normal_lines.append(f"{image} {normal}\n")
        lists[f"{split}_seg.txt"] = seg_lines
        lists[f"{split}_normal_mask.txt"] = normal_lines
    (root / "list").mkdir()
    for name, lines in lists.items():
        (root / "list" / name).write_text("".join(lines))
    return root


def test_examples_follow_the_label_layouts(tmp_path):
    source = NYUv2List(_make_root(tmp_path), num_validation=2)
    assert source.num_classes == 40
    example = source.example(tf.constant(0, tf.int64), "test")
    assert example["image"].shape == (6, 8, 3)
    assert example["image"].dtype == tf.float32
    assert float(tf.reduce_min(example["image"])) >= 0.0
    assert float(tf.reduce_max(example["image"])) <= 1.0
    seg = example["labels"]["segmentation"].numpy()
    assert seg.dtype == np.int32 and seg.shape == (6, 8)
    assert seg[0, 0] == 255 and seg[1:].max() < 40
    normals = example["labels"]["normals"].numpy()
    np.testing.assert_array_equal(normals[1, 2], 0.0)
    norms = np.linalg.norm(normals, axis=-1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, atol=1e-5)
    assert np.sum(norms == 0) == 1
    np.testing.assert_allclose(normals[3, 3], (0.0, 0.0, 1.0), atol=0.01)
    np.testing.assert_allclose(normals[0, 7], (1.0, 0.0, 0.0), atol=0.01)


def test_validation_is_held_out_from_train(tmp_path):
    source = NYUv2List(_make_root(tmp_path), num_validation=2, seed=3)
    assert source.num_examples("train") == 4
    assert source.num_examples("validation") == 2
    assert source.num_examples("trainval") == 6
    assert source.num_examples("test") == 3
    train = set(source._splits["train"][1].tolist())
    validation = set(source._splits["validation"][1].tolist())
    assert not train & validation and len(train | validation) == 6
    with pytest.raises(ValueError, match="Unknown NYUv2 split"):
        source.num_examples("val")


def test_resized_batches_through_the_pipeline(tmp_path):
    source = NYUv2List(
        _make_root(tmp_path), image_size=(4, 4), num_validation=1
    )
    batch = next(
        iter(make_dataset(source, "train", ("segmentation", "normals"), 2))
    )
    assert batch["image"].shape == (2, 4, 4, 3)
    assert batch["labels"]["segmentation"].shape == (2, 4, 4)
    assert batch["labels"]["normals"].shape == (2, 4, 4, 3)


def test_missing_and_inconsistent_lists(tmp_path):
    with pytest.raises(DataNotFoundError, match="training_seg.txt"):
        NYUv2List(tmp_path / "nowhere")
    root = _make_root(tmp_path)
    path = root / "list" / "training_normal_mask.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(reversed(lines)))
    with pytest.raises(ValueError, match="different images"):
        NYUv2List(root)


def test_stored_size_is_static_and_other_sizes_fail_clearly(tmp_path):
    root = _make_root(tmp_path)
    source = NYUv2List(root, num_validation=1)
    assert source.stored_size == (6, 8)
    ds = make_dataset(source, "train", ("segmentation", "normals"), 2)
    spec = ds.element_spec
    assert spec["image"].shape[1:] == (6, 8, 3)
    assert spec["labels"]["segmentation"].shape[1:] == (6, 8)
    assert spec["labels"]["normals"].shape[1:] == (6, 8, 3)
    # A test image of another size stops the pipeline naming the file.
    _write_png(
        root / "nyu_train_val/testing/image_1.png",
        np.zeros((5, 8, 3), np.uint8),
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_1.png"):
        source.example(tf.constant(1, tf.int64), "test")
    source.example(tf.constant(0, tf.int64), "test")  # the others still load
