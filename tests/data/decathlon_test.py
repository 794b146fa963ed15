"""Visual Decathlon: devkit layout (tiny generated files) and TFDS mock."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import DataNotFoundError, make_dataset
from tfmtl.data.decathlon import (
    Decathlon,
    decathlon_tasks,
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
    source = Decathlon(TASKS, str(tmp_path), format="devkit", image_size=72)
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


def test_partitioned_network_trains_on_per_task_streams(tmp_path):
    import functools

    import keras

    from tfmtl.sharing.feature_partitioning import (
        AccuracySampledTask,
        FeaturePartitioning,
        per_task_optimizers,
    )
    from tfmtl.trainers import Controller

    _write_devkit(str(tmp_path))
    source = Decathlon(TASKS, str(tmp_path), format="devkit", image_size=16)
    sgd = functools.partial(keras.optimizers.SGD, 0.05, momentum=0.9)
    controller = Controller(
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
