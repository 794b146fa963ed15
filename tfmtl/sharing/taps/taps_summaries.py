"""TensorBoard summaries of a TAPS run: layers tuned, parameters changed,
training error and the map of tuned layers."""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data.pipeline import make_dataset
from tfmtl.sharing.taps import export
from tfmtl.trainers.actions import Action


class TAPSSummaries(Action):
    """Logs TAPS statistics under `taps/` every `every_n_steps` steps.

    Writes, to the run's `train` summaries: `taps/layers_tuned/<task>` (% of
    gated layers with score >= threshold, the reference's "Percent Weights
    Activated"), `taps/parameters_changed/<task>` (% of gated kernel
    parameters), `taps/penalty_scale` and, with `train_error_steps`,
    `taps/train_error/<task>` (the classification error of the current
    model, inference mode, on that many training batches). It also draws the
    tasks x layers map of tuned layers as the image `taps/layers` and writes
    it to `<model_dir>/taps_layers.png`. Validation error and training loss
    are logged by the controller (`metric/<task>/error`, `loss/<task>`).

    Args:
        every_n_steps: steps between summaries.
        train_error_steps: training batches for the training error (0: off).
    """

    def __init__(self, every_n_steps=100, train_error_steps=0):
        super().__init__(every_n_steps, "train")
        self.train_error_steps = int(train_error_steps)

    def __call__(self, step, logs, controller):
        sharing = controller.model.sharing
        values = {
            "taps/penalty_scale": float(np.asarray(sharing.penalty_scale))
        }
        for task, fraction in sharing.layers_tuned().items():
            values[f"taps/layers_tuned/{task}"] = 100.0 * fraction
        for task, fraction in sharing.parameters_changed().items():
            values[f"taps/parameters_changed/{task}"] = 100.0 * fraction
        if self.train_error_steps:
            values.update(self._train_error(controller))
        controller._writers.scalars("train", values, step)
        image = export.layer_map_image(sharing.active_layers())
        controller._writers.images(
            "train",
            {"taps/layers": image[None].astype(np.float32) / 255.0},
            step,
        )
        export.write_png(
            os.path.join(controller.model_dir, "taps_layers.png"), image
        )

    def _train_error(self, controller):
        split = next(iter(controller.train_splits.values()))
        dataset = make_dataset(
            controller.train_data,
            split,
            controller.task_names,
            controller.eval_batch_size,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
        ).take(self.train_error_steps)
        totals = None
        for batch in controller.strategy.experimental_distribute_dataset(
            dataset
        ):
            stats = tf.nest.map_structure(
                np.asarray, controller.trainer.eval_step(batch)
            )
            totals = (
                stats
                if totals is None
                else tf.nest.map_structure(np.add, totals, stats)
            )
        values = {}
        for task in controller.tasks:
            for i, metric in enumerate(task.metrics):
                result = metric.result(totals[task.name][f"metric{i}"])
                if "error" in result:
                    values[f"taps/train_error/{task.name}"] = float(
                        result["error"]
                    )
        return values
