"""CityScapes in the AdaShare formatted layout, on tiny generated files."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import make_dataset
from tfmtl.data.cityscapes import CityScapes

H, W = 4, 6


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    rng = np.random.default_rng(0)
    entries = []
    for folder in ("image", "depth", "label"):
        (root / folder).mkdir()
    for i in range(3):
        image = rng.uniform(0, 1, (H, W, 3))  # float64 as numpy saves it
        depth = rng.uniform(0, 0.49, (H, W, 1)).astype(np.float32)
        np.save(root / "image" / f"{i}.npy", image)
        np.save(root / "depth" / f"{i}.npy", depth)
        names = []
        for classes in (2, 7, 19):
            label = rng.integers(-1, classes, (H, W))
            label[0, 0] = -1
            np.save(root / "label" / f"{i}_{classes}.npy", label)
            names.append(f"label/{i}_{classes}.npy")
        entries.append([f"image/{i}.npy", f"depth/{i}.npy", *names])
    index = {
        "train": entries[:2],
        "train1": entries[:1],
        "train2": entries[1:2],
        "test": entries[2:],
    }
    (root / "cityscape.json").write_text(json.dumps(index))
    return root


@pytest.mark.parametrize("classes", [19, 7])
def test_reads_image_depth_and_labels(data_dir, classes):
    source = CityScapes(str(data_dir), num_classes=classes, image_shape=(H, W))
    assert source.num_examples("train") == 2
    ex = source.example(tf.constant(1, tf.int64), "train")
    np.testing.assert_allclose(
        ex["image"], np.load(data_dir / "image" / "1.npy"), atol=1e-6
    )
    np.testing.assert_allclose(
        ex["labels"]["depth"], np.load(data_dir / "depth" / "1.npy")
    )
    raw = np.load(data_dir / "label" / f"1_{classes}.npy")
    labels = ex["labels"]["segmentation"].numpy()
    np.testing.assert_array_equal(labels, np.where(raw < 0, 255, raw))
    assert labels[0, 0] == 255


def test_pipeline(data_dir):
    source = CityScapes(str(data_dir), image_shape=(H, W))
    batch = next(iter(make_dataset(source, "validation", None, 1)))
    assert batch["labels"]["segmentation"].shape == (1, H, W)
    with pytest.raises(ValueError, match="num_classes"):
        CityScapes(str(data_dir), num_classes=5)
