"""taskonomy_5task.gin scales like the reference and masks the padding.

Reference: `Taskonomy.__getitem__` of `dataloaders/taskonomy_dataloader.py`
in github.com/sunxm2357/AdaShare calls `__scale__` (factor
`random.random() + 0.5`, i.e. U[0.5, 1.5)) on the training splits, pads
every label with 255, and `get_keypoint_loss` / `get_edge_loss` of
`envs/base_env.py` average the L1 over the pixels whose label is not 255.
"""

import contextlib
import os

import gin
import numpy as np
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data.augment import DenseAugment
from tfmtl.metrics import RegressionMetrics, accumulate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
CONFIG = "gin_configs/adashare/taskonomy_5task_synthetic.gin"


@contextlib.contextmanager
def _built():
    """The config's augmentation and tasks (gin-configured functions read
    their bindings when called, so the config stays parsed meanwhile)."""
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, CONFIG)], ["MODEL_DIR = '/tmp/unused'"]
        )
        augment = gin.get_configurable(DenseAugment)()
        built = gin.get_configurable(tasks_lib.override_tasks)()
        yield augment, {task.name: task for task in built}
    finally:
        gin.clear_config()


def test_taskonomy_training_crops_are_scaled_and_padded_with_255():
    with _built() as (augment, _):
        _check_augment(augment)


def _check_augment(augment):
    assert augment.crop_size == (224, 224)
    assert augment.scale_range == (0.5, 1.5)
    assert augment.regression_ignore_value == 255.0
    assert augment.center_padding
    rng = np.random.default_rng(0)
    example = {
        "image": tf.constant(rng.uniform(size=(256, 256, 3)), tf.float32),
        "labels": {
            "edges": tf.constant(rng.uniform(-1, 1, (256, 256, 1)), tf.float32),
        },
    }
    padded = []
    for i in range(12):
        out = augment(example, tf.constant([5, i]), {"edges": "regression"})
        padded.append(float(np.mean(out["labels"]["edges"].numpy() == 255)))
    # Scales below 224/256 leave padding (P = 0.375 per draw); scales
    # above do not: both must occur among 12 draws of this seed.
    assert min(padded) == 0.0 and max(padded) > 0.0


def test_taskonomy_edges_loss_and_metric_leave_out_padding():
    with _built() as (_, tasks):
        _check_edges(tasks["edges"])


def _check_edges(edges):
    rng = np.random.default_rng(1)
    labels = rng.uniform(-1, 1, (2, 4, 4, 1)).astype(np.float32)
    labels[0, 2:] = 255.0
    labels[1] = 255.0  # all padding
    preds = rng.uniform(-1, 1, labels.shape).astype(np.float32)
    valid = labels[0] != 255.0
    expected = np.abs(preds[0] - labels[0].astype(np.float64))[valid].mean()
    np.testing.assert_allclose(
        edges.loss(labels, preds).numpy(), [expected, 0.0], rtol=1e-5
    )
    # The masked metric comes last, so its abs_err is the one reported.
    last = edges.metrics[-1]
    assert isinstance(last, RegressionMetrics)
    result = last.result(accumulate({}, last.statistics(labels, preds)))
    np.testing.assert_allclose(float(result["abs_err"]), expected, rtol=1e-5)
