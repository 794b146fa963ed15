"""TensorBoard summaries of a TAPS run: layers tuned, parameters changed,
training error and the map of tuned layers."""

import os

import numpy as np

from tfmtl.methods.taps import export
from tfmtl.trainers.actions import Action


class TAPSSummaries(Action):
    """Logs TAPS statistics under `taps/` every `every_n_steps` steps.

    Writes, to the run's `train` summaries: `taps/layers_tuned/<task>` (% of
    gated layers with score >= threshold, the reference's "Percent Weights
    Activated"), `taps/parameters_changed/<task>` (% of gated kernel
    parameters), `taps/penalty_scale` and, with `train_error_steps`,
    `taps/train_error/<task>` and `taps/train_loss/<task>` (classification
    error and mean loss of the current model, inference mode, on that many
    batches of every training stream; an example counts for the tasks it is
    labelled for, so in joint runs each task is scored on its own data). It
    also draws the tasks x layers map of tuned layers as the image
    `taps/layers` and writes it to `<model_dir>/taps_layers.png`. The
    controller logs the validation error (`eval/metric/<task>/error`; with
    `own_data_tasks` also the own-data validation loss
    `eval/metric/<task>/loss`) and the training objective
    (`train/loss/<task>`).

    Args:
        every_n_steps: steps between summaries.
        train_error_steps: training batches for the training error (0: off).
    """

    def __init__(self, every_n_steps=100, train_error_steps=0):
        super().__init__(every_n_steps, "train")
        self.train_error_steps = int(train_error_steps)

    def __call__(self, step, logs, context):
        sharing = context.model.sharing
        values = {
            "taps/penalty_scale": float(np.asarray(sharing.penalty_scale))
        }
        for task, fraction in sharing.layers_tuned().items():
            values[f"taps/layers_tuned/{task}"] = 100.0 * fraction
        for task, fraction in sharing.parameters_changed().items():
            values[f"taps/parameters_changed/{task}"] = 100.0 * fraction
        if self.train_error_steps:
            values.update(self._train_error(context))
        context.writer.scalars("train", values, step)
        image = export.layer_map_image(sharing.active_layers())
        context.writer.images(
            "train",
            {"taps/layers": image[None].astype(np.float32) / 255.0},
            step,
        )
        export.write_png(
            os.path.join(context.model_dir, "taps_layers.png"), image
        )

    def _train_error(self, context):
        totals = {}
        for split in dict.fromkeys(context.train_splits.values()):
            context.evaluator.statistics(
                context.train_data,
                split,
                steps=self.train_error_steps,
                totals=totals,
            )
        values = {}
        for task in context.tasks:
            entry = totals[task.name]
            for i, metric in enumerate(task.metrics):
                stats = entry[f"metric{i}"]
                result = metric.result(stats)
                if "error" not in result:
                    continue
                values[f"taps/train_error/{task.name}"] = float(result["error"])
                if "confusion" in stats:
                    # Examples labelled for the task (others have 0 loss).
                    labelled = float(np.sum(stats["confusion"]))
                    values[f"taps/train_loss/{task.name}"] = float(
                        entry["loss_sum"] / max(labelled, 1.0)
                    )
        return values
