"""The trainer hands a representation-Gramian weighting the Gramian of the
per-task gradients at the shared features of the step's own batch."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.data.pipeline import make_dataset
from tfmtl.sharing import HardSharing
from tfmtl.trainers import build_controller
from tfmtl.weighting import EW

TASKS = ("attr_a0", "attr_b0", "depth")
BATCH = 8
SOURCE = SyntheticScenes(
    image_size=16, num_train=32, num_validation=8, num_test=8
)


class RecordingEW(EW):
    """Equal weights that keep the last Gramian the trainer passed in."""

    needs_gramian = "representation"

    def build(self, num_tasks):
        super().build(num_tasks)
        self.seen = tf.Variable(tf.zeros([num_tasks, num_tasks]))

    def call(self, losses, gramian=None, training=None):
        self.seen.assign(gramian)
        return super().call(losses, gramian, training)


def _sharing():
    # No batch norm: a second forward pass reproduces the step's features.
    trunk = keras.Sequential(
        [
            keras.layers.Conv2D(6, 3, 2, activation="tanh"),
            keras.layers.Conv2D(6, 3, 1, activation="tanh"),
        ]
    )
    return HardSharing(trunk, tasks=TASKS)


def test_trainer_gramian_equals_separately_computed_gradients(tmp_path):
    tasks = tasks_lib.tasks_for(SOURCE, TASKS)
    controller = build_controller(
        model_dir=str(tmp_path),
        tasks=tasks,
        sharing=_sharing,
        # Learning rate 0: the weights after the step are those it used.
        optimizers={"weights": lambda: keras.optimizers.SGD(0.0)},
        weighting=RecordingEW,
        train_data=SOURCE,
        global_batch_size=BATCH,
        checkpoint_every=1000,
        summary_every=1000,
    )
    controller.train(1)
    batch = next(
        iter(
            make_dataset(
                SOURCE, "train", TASKS, BATCH, seed=controller.streams.seed
            )
        )
    )
    model = controller.model
    with tf.GradientTape(persistent=True) as tape:
        outputs, features = model(
            batch["image"], training=True, return_features=True
        )
        losses = [
            tf.nn.compute_average_loss(
                task.loss(batch["labels"][task.name], outputs[task.name]),
                global_batch_size=BATCH,
            )
            for task in tasks
        ]
    rep = features[TASKS[0]]
    rows = [tape.gradient(loss, rep).numpy().ravel() for loss in losses]
    jacobian = np.stack(rows)
    expected = jacobian @ jacobian.T
    seen = controller.trainer.weighting.seen.numpy()
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(seen, expected, rtol=1e-4, atol=1e-9)
