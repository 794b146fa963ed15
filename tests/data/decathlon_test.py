"""Visual Decathlon: devkit layout (tiny generated files), TFDS mock,
per-data-set normalisation and the training augmentation."""

import json
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data import decathlon_augment as aug
from tfmtl.data.decathlon import Decathlon
from tfmtl.data.decathlon_tasks import (
    decathlon_tasks,
    distillation_reference,
    masked_cross_entropy,
    stream_names,
    task_splits,
)

TASKS = ("svhn", "dtd")


def _write_devkit(root, sizes=(("train", 6), ("val", 3))):
    """Devkit layout: annotations/<task>_<split>.json + image files."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "annotations"))
    for t, task in enumerate(TASKS):
        categories = [
            {"id": (t + 1) * 10_000_000 + c, "name": f"c{c}"} for c in (1, 2, 3)
        ]
        for split, count in sizes:
            folder = os.path.join(root, "data", task, split)
            os.makedirs(folder)
            images, annotations = [], []
            for i in range(count):
                name = f"data/{task}/{split}/{i:05d}.png"
                h, w = (50, 90) if i % 2 else (80, 40)
                pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
                tf.io.write_file(
                    os.path.join(root, name), tf.io.encode_png(pixels)
                )
                images.append(
                    {
                        "id": 100 * t + i,
                        "file_name": name,
                        "width": w,
                        "height": h,
                    }
                )
                annotations.append(
                    {
                        "id": i,
                        "image_id": 100 * t + i,
                        "category_id": categories[i % 3]["id"],
                    }
                )
            with open(
                os.path.join(root, "annotations", f"{task}_{split}.json"), "w"
            ) as f:
                json.dump(
                    {
                        "images": images,
                        "annotations": annotations,
                        "categories": categories,
                    },
                    f,
                )


def test_devkit_per_task_and_joint_splits(tmp_path):
    _write_devkit(str(tmp_path))
    source = Decathlon(
        TASKS, str(tmp_path), format="devkit", image_size=72, normalize=False
    )
    assert source.num_examples("train/svhn") == 6
    assert source.num_examples("validation") == 6
    batch = next(
        iter(
            make_dataset(
                source, "validation/dtd", TASKS, 3, shuffle=False, repeat=False
            )
        )
    )
    assert tuple(batch["image"].shape) == (3, 72, 72, 3)
    assert float(tf.reduce_max(batch["image"])) <= 1.0
    np.testing.assert_array_equal(batch["labels"]["dtd"], [0, 1, 2])
    np.testing.assert_array_equal(batch["labels"]["svhn"], [-1, -1, -1])
    # Training streams (shuffled, augmented) keep the 72 px size.
    train = next(iter(make_dataset(source, "train/svhn", TASKS, 4, seed=1)))
    assert tuple(train["image"].shape) == (4, 72, 72, 3)
    assert set(np.asarray(train["labels"]["svhn"])) <= {0, 1, 2}
    joint = list(
        make_dataset(
            source, "validation", TASKS, 6, shuffle=False, repeat=False
        )
    )[0]["labels"]
    assert (np.asarray(joint["svhn"]) >= 0).sum() == 3
    assert (np.asarray(joint["dtd"]) >= 0).sum() == 3


def test_devkit_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown Decathlon tasks"):
        Decathlon(["mnist"], str(tmp_path), format="devkit")
    source = Decathlon(TASKS, str(tmp_path), format="devkit")
    with pytest.raises(DataNotFoundError, match="annotation file"):
        next(iter(make_dataset(source, "train/svhn", TASKS, 2)))
    with pytest.raises(ValueError, match="Unknown Decathlon split"):
        source.read("dev/svhn")


def test_tfds_mock_data():
    import tensorflow_datasets as tfds

    source = Decathlon(["aircraft", "svhn"], format="tfds", image_size=72)
    with tfds.testing.mock_data(num_examples=4):
        batch = next(
            iter(
                make_dataset(
                    source, "train/aircraft", source.task_names, 4, seed=0
                )
            )
        )
    assert tuple(batch["image"].shape) == (4, 72, 72, 3)
    labels = np.asarray(batch["labels"]["aircraft"])
    assert labels.min() >= 0 and labels.max() < 100
    np.testing.assert_array_equal(batch["labels"]["svhn"], [-1] * 4)


def test_tasks_and_streams():
    source = Decathlon(TASKS, "/unused", format="devkit")
    tasks = decathlon_tasks(source)
    assert [t.num_outputs for t in tasks] == [10, 47]
    logits = tf.constant([[2.0, 0.0], [0.0, 2.0]])
    loss = masked_cross_entropy(tf.constant([-1, 1]), logits)
    assert float(loss[0]) == 0.0 and float(loss[1]) > 0.0
    assert task_splits(TASKS, "validation")["dtd"] == "validation/dtd"
    assert stream_names(TASKS) == {"svhn": "svhn", "dtd": "dtd"}
    assert distillation_reference(TASKS) == {"svhn": 0.96, "dtd": 0.51}


def test_partitioned_network_trains_on_per_task_streams(tmp_path):
    import functools

    import keras

    from tfmtl.methods.feature_partitioning import (
        AccuracySampledTask,
        FeaturePartitioning,
        per_task_optimizers,
    )
    from tfmtl.trainers import build_controller

    _write_devkit(str(tmp_path))
    source = Decathlon(TASKS, str(tmp_path), format="devkit", image_size=16)
    sgd = functools.partial(keras.optimizers.SGD, 0.05, momentum=0.9)
    controller = build_controller(
        model_dir=str(tmp_path / "run"),
        tasks=decathlon_tasks(source),
        sharing=functools.partial(
            FeaturePartitioning,
            TASKS,
            "independent",
            widths=(4, 8, 8),
            blocks_per_stage=1,
        ),
        optimizers=per_task_optimizers(TASKS, sgd),
        train_data=source,
        global_batch_size=4,
        schedule=AccuracySampledTask(data=stream_names(TASKS)),
        train_splits=task_splits(TASKS, "train"),
    )
    results = controller.train_and_evaluate(4, eval_every=4)
    # Each task's stream fed its own steps; evaluation saw 3 images per task.
    steps = {
        t: int(controller.optimizers[f"weights/{t}"].iterations) for t in TASKS
    }
    assert sum(steps.values()) == 4
    assert all(
        int(controller.data_positions[t].numpy()) == steps[t] for t in TASKS
    )
    for t in TASKS:
        assert 0.0 <= results[f"metric/{t}/accuracy"] <= 1.0
        assert np.isfinite(results[f"loss/{t}"])


# ------------------------------------------ normalisation and augmentation
@pytest.fixture(scope="module")
def devkit(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("devkit"))
    _write_devkit(root)
    return root


def _images(source, split):
    ds = make_dataset(source, split, TASKS, 1, shuffle=False, repeat=False)
    return [b["image"][0].numpy() for b in ds]


def test_statistics_computed_cached_and_used(devkit):
    raw = Decathlon(TASKS, devkit, "devkit", image_size=16, normalize=False)
    source = Decathlon(TASKS, devkit, "devkit", image_size=16)
    stats = source.statistics()
    for task in TASKS:
        pixels = np.stack(_images(raw, f"train/{task}")).reshape(-1, 3)
        np.testing.assert_allclose(stats[task][0], pixels.mean(0), rtol=1e-5)
        np.testing.assert_allclose(stats[task][1], pixels.std(0), rtol=1e-4)
    with open(os.path.join(devkit, aug.STATS_FILES[0])) as f:
        cached = json.load(f)
    np.testing.assert_allclose(cached["dtd"]["mean"], stats["dtd"][0])
    # Joint validation: every image is normalised with its own data set's
    # statistics (svhn first, then dtd).
    plain = _images(raw, "validation")
    normed = _images(source, "validation")
    for i, (x, y) in enumerate(zip(plain, normed)):
        mean, std = stats[TASKS[i // 3]]
        np.testing.assert_allclose(y, (x - mean) / std, rtol=1e-4, atol=1e-5)


def test_reference_statistics_files(tmp_path, devkit):
    mean = {"svhn": [0.1, 0.2, 0.3], "dtd": [0.5, 0.5, 0.5]}
    std = {"svhn": [0.5, 0.5, 0.5], "dtd": [0.25, 0.25, 0.25]}
    ref = tmp_path / "decathlon_mean_ref.p"
    with open(ref, "wb") as f:
        pickle.dump({"mean": mean, "std": std}, f, protocol=2)
    got = aug.read_stats(str(ref), TASKS)
    np.testing.assert_allclose(got["svhn"][0], mean["svhn"])
    devkit_style = tmp_path / "decathlon_mean_std.pickle"
    with open(devkit_style, "wb") as f:
        pickle.dump({"dtdmean": mean["dtd"], "dtdstd": std["dtd"]}, f)
    assert aug.read_stats(str(devkit_style), TASKS) is None  # lacks svhn
    np.testing.assert_allclose(
        aug.read_stats(str(devkit_style), ["dtd"])["dtd"][1], std["dtd"]
    )
    raw = Decathlon(TASKS, devkit, "devkit", image_size=16, normalize=False)
    source = Decathlon(
        TASKS, devkit, "devkit", image_size=16, mean_std=str(ref)
    )
    x, y = (
        _images(raw, "validation/dtd")[0],
        _images(source, "validation/dtd")[0],
    )
    np.testing.assert_allclose(y, (x - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="lacks"):
        Decathlon(
            TASKS, devkit, "devkit", mean_std=str(devkit_style)
        ).statistics()


def _train_batches(source, start_step=0, count=3):
    ds = make_dataset(
        source, "train/dtd", TASKS, 2, seed=7, start_step=start_step
    )
    return [b["image"].numpy() for b in ds.take(count)]


def test_augmentation_is_reproducible_and_resumable(devkit):
    source = Decathlon(TASKS, devkit, "devkit", image_size=16)
    first = _train_batches(source, count=5)
    again = _train_batches(source, count=5)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # A resumed pipeline (start_step=2) continues exactly.
    for a, b in zip(first[2:], _train_batches(source, 2, 3)):
        np.testing.assert_array_equal(a, b)
    # Training images are augmented: not the evaluation preprocessing.
    plain = _images(source, "train/dtd")
    assert not any(np.allclose(first[0][0], p, atol=1e-4) for p in plain)


def _crops(image, size, padding=4):
    padded = np.pad(image, [(padding, padding), (padding, padding), (0, 0)])
    h, w = padded.shape[:2]
    return [
        padded[y : y + size, x : x + size]
        for y in range(h - size + 1)
        for x in range(w - size + 1)
    ]


@pytest.mark.parametrize("task, flips", [("svhn", False), ("dtd", True)])
def test_crop_and_flip_follow_the_reference(devkit, task, flips):
    size = 16
    source = Decathlon(
        TASKS,
        devkit,
        "devkit",
        image_size=size,
        normalize=False,
        color_jitter=None,
        cutout=0,
    )
    files, _ = source._devkit("train", task)
    raw = tf.io.decode_image(tf.io.read_file(files[1]), channels=3)
    resized = tf.image.resize(
        tf.image.convert_image_dtype(raw, tf.float32), (size, 29)
    ).numpy()  # shorter side (50 px) -> 16, longer 90 px -> 29
    crops = _crops(np.clip(resized, 0, 1), size)
    mirrored = 0
    for position in range(12):
        owner = TASKS.index(task)
        out = source._preprocess(raw, owner, position, 3, True, False)
        out = out.numpy()
        if any(np.allclose(out, c, atol=1e-5) for c in crops):
            continue
        assert any(np.allclose(out[:, ::-1], c, atol=1e-5) for c in crops)
        mirrored += 1
    assert (mirrored > 0) == flips


def test_cutout_zeroes_one_clipped_square():
    image = tf.ones((16, 16, 3))
    for s in range(10):
        out = aug.cutout(image, tf.constant([s, 1], tf.int64), 6).numpy()
        zero = np.all(out == 0, axis=-1)
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        # A full rectangle, at most 6 x 6, clipped at the borders only.
        assert zero.sum() == len(rows) * len(cols) > 0
        assert len(rows) <= 6 and len(cols) <= 6
        assert len(rows) == 6 or rows[0] == 0 or rows[-1] == 15
        assert len(cols) == 6 or cols[0] == 0 or cols[-1] == 15


def test_color_jitter_ranges():
    image = tf.random.stateless_uniform((8, 8, 3), [0, 1])
    out = aug.color_jitter(
        image, tf.constant([4, 2], tf.int64), (0.3, 0.0, 0.0, 0.0)
    ).numpy()
    ratio = out / np.maximum(image.numpy(), 1e-6)
    unclipped = out < 1.0
    factor = np.median(ratio[unclipped])
    assert 0.7 <= factor <= 1.3 and abs(factor - 1) > 1e-3
    np.testing.assert_allclose(ratio[unclipped], factor, rtol=1e-4)
    full = aug.color_jitter(image, tf.constant([4, 3], tf.int64)).numpy()
    assert full.min() >= 0 and full.max() <= 1
