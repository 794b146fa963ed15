"""Where a run's checkpoints live: latest, periodic and best.

The layout inside a checkpoint is `checkpointing`'s business; this module
only decides file names, rotation and which process keeps its copy.
"""

import os

import tensorflow as tf
from absl import logging

from tfmtl.trainers import checkpointing, summaries


class RunCheckpoints:
    """Saves and restores the state of one run.

    Every worker of a multi-worker job must write (saving runs collectives),
    so non-chief workers write to a scratch directory that is deleted right
    away; only the chief's files are kept.

    Args:
        checkpoint: The run's `tf.train.Checkpoint` (see
            `checkpointing.make_checkpoint`).
        model: The model (for the by-name fit check on restore).
        weighting: The weighting (likewise).
        global_step: The run's step variable (numbers the checkpoints).
        directory: Where checkpoints are written and resumed from.
        model_dir: The run's directory (`best/` goes there).
        cluster: The process's `ClusterInfo`.
        max_to_keep: Periodic checkpoints kept.

    Example:
    ```python
    checkpoints = RunCheckpoints(ckpt, model, weighting, step, dir, dir,
                                 ClusterInfo())
    checkpoints.restore()   # the latest, if any
    checkpoints.save()
    ```
    """

    def __init__(
        self,
        checkpoint,
        model,
        weighting,
        global_step,
        directory,
        model_dir,
        cluster,
        max_to_keep=3,
    ):
        self.checkpoint, self.model, self.weighting = (
            checkpoint,
            model,
            weighting,
        )
        self.directory, self.model_dir = str(directory), str(model_dir)
        self.cluster = cluster
        self.best_dir = os.path.join(self.model_dir, "best")
        self._global_step = global_step
        target = self.directory
        if not cluster.is_chief:
            target = self._scratch()
        self.manager = tf.train.CheckpointManager(
            checkpoint,
            target,
            max_to_keep=max_to_keep,
            step_counter=global_step,
        )

    @classmethod
    def for_run(cls, trainer, global_step, data_positions, actions, **kwargs):
        """Checkpoints everything a run restores: see `make_checkpoint`.

        Args:
            trainer: The run's `Trainer` (model, weighting, optimizers and
                gradient accumulator).
            global_step: The run's step variable.
            data_positions: The streams' position variables.
            actions: The run's actions (their state is checkpointed).
            **kwargs: `directory`, `model_dir`, `cluster`, `max_to_keep`.
        """
        checkpoint = checkpointing.make_checkpoint(
            global_step,
            trainer.model,
            trainer.weighting,
            trainer.optimizers,
            data_positions,
            actions,
            trainer.accumulator,
        )
        return cls(
            checkpoint, trainer.model, trainer.weighting, global_step, **kwargs
        )

    def _scratch(self):
        worker = f"worker_{self.cluster.task_id}"
        return os.path.join(self.directory, ".workers", worker)

    def latest(self):
        """Path of the newest checkpoint of the run, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore(self, path=None):
        """Restores `path` (default: the latest checkpoint); returns it.

        Raises:
            ValueError: naming the first variable of the checkpoint that
                does not fit the model or weighting.
        """
        path = path or self.latest()
        if path:
            checkpointing.restore(
                self.checkpoint, path, self.model, self.weighting
            )
            logging.info(
                "Restored %s (step %d).", path, int(self._global_step.numpy())
            )
        return path

    def save(self):
        """Writes a checkpoint for the current step; returns its path."""
        path = self.manager.save(checkpoint_number=self._global_step)
        if not self.cluster.is_chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path

    def save_best(self, step, metrics):
        """Writes the current state to `model_dir/best`; returns its path.

        Args:
            step: The step being saved.
            metrics: Dict written with it to `best/best.json`.
        """
        if not self.cluster.is_chief:
            scratch = self._scratch()
            path = self.checkpoint.write(os.path.join(scratch, "best", "ckpt"))
            tf.io.gfile.rmtree(scratch)
            return path
        path = self.checkpoint.write(os.path.join(self.best_dir, "ckpt"))
        summaries.write_json(
            os.path.join(self.best_dir, "best.json"),
            {"step": int(step), "checkpoint": path, **metrics},
        )
        return path
