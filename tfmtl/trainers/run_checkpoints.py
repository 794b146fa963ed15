"""Where a run's checkpoints live: latest, periodic and best.

The layout inside a checkpoint is `checkpointing`'s business and the files
on disk `checkpoint_files`'s; this module decides what is saved when, which
process keeps its copy, and what a restore falls back to.
"""

import os

import tensorflow as tf
from absl import logging

from tfmtl.trainers import (
    checkpoint_files,
    checkpointing,
    run_structure,
    summaries,
)


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
        optimizers: The run's optimizers: their configured learning rates
            are put back after every restore.
        structure: `run_structure.describe(...)` of the run: stored with
            the first checkpoint, compared before every restore.
        view: The checkpoint of the model, weighting, step and actions
            only (see `restore(model_only=True)`); default `checkpoint`.

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
        optimizers=(),
        structure=None,
        view=None,
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
        self.max_to_keep = int(max_to_keep)
        self._saved_step = None
        self.structure = structure
        self.view = view or checkpoint
        self._hyperparameters = [
            v for opt in optimizers for v in _hyperparameters(opt)
        ]

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
        view = checkpointing.make_checkpoint(
            global_step, trainer.model, trainer.weighting, {}, {}, actions
        )
        return cls(
            checkpoint,
            trainer.model,
            trainer.weighting,
            global_step,
            optimizers=list(trainer.optimizers.values()),
            view=view,
            **kwargs,
        )

    def _scratch(self):
        worker = f"worker_{self.cluster.task_id}"
        return os.path.join(self.directory, ".workers", worker)

    def latest(self):
        """Path of the newest complete checkpoint of the run, or None."""
        found = checkpoint_files.complete(self.directory)
        return found[0] if found else None

    def restore(self, path=None, model_only=False):
        """Restores `path`, or else the newest readable checkpoint.

        Without `path`, every checkpoint of the directory is tried, newest
        first: one that fails to read is reported in one line and the
        previous one is tried. After a restore the configured optimizer
        hyperparameters are put back (the configuration wins over the
        stored learning rate; slots and step come from the checkpoint).

        Returns:
            The restored path, or None when the directory has none.

        Args:
            path: A checkpoint prefix, or None for the newest readable.
            model_only: Restore only the model, weighting, step and
                actions (`evaluate`, `export`): a model with its tasks in
                another order restores by name, whatever the optimizers'
                slot order.

        Raises:
            ValueError: naming the first variable of the checkpoint that
                does not fit the model or weighting, or when checkpoints
                exist but none can be read.
        """
        if path:
            return self._restore(path, model_only)
        tried, found = [], checkpoint_files.candidates(self.directory)
        if found:
            self.check_structure(ordered=False)
        for candidate in found:
            try:
                return self._restore(candidate, model_only)
            except (ValueError, AssertionError):
                raise  # the checkpoint does not fit: no other one will
            except Exception as error:  # noqa: BLE001 - unreadable files
                reason = " ".join(f"{type(error).__name__}: {error}".split())
                logging.warning(
                    "Checkpoint %s is unreadable (%s); trying the previous "
                    "one.",
                    candidate,
                    reason[:300],
                )
                tried.append(os.path.basename(candidate))
        if tried:
            raise ValueError(
                f"No readable checkpoint in {self.directory} (tried "
                f"{', '.join(tried)}); move them away to start afresh."
            )
        return None

    def check_structure(self, ordered=True):
        """Raises ValueError when the directory's checkpoints are of a run
        with other tasks (or task order), sharing module or backbone."""
        if self.structure and checkpoint_files.candidates(self.directory):
            run_structure.check(self.directory, self.structure, ordered)

    def _restore(self, path, model_only=False):
        configured = [(v, v.numpy()) for v in self._hyperparameters]
        checkpoint = self.view if model_only else self.checkpoint
        checkpointing.restore(checkpoint, path, self.model, self.weighting)
        for variable, value in configured:
            variable.assign(value)
        self._saved_step = int(self._global_step.numpy())
        logging.info("Restored %s (step %d).", path, self._saved_step)
        return path

    def save(self, force=False):
        """Writes a checkpoint for the current step, once; returns its path.

        Args:
            force: Write even when this step was saved (or restored)
                already; by default such a step is not written again.
        """
        step = int(self._global_step.numpy())
        if self.cluster.is_chief:
            prefix = os.path.join(self.directory, f"ckpt-{step}")
            if (
                not force
                and step == self._saved_step
                and tf.io.gfile.exists(prefix + ".index")
            ):
                return prefix
            tf.io.gfile.makedirs(self.directory)
            if self.structure:
                run_structure.write(self.directory, self.structure)
            checkpoint_files.write_atomically(self.checkpoint, prefix)
            checkpoint_files.update_state(
                self.directory, prefix, self.max_to_keep
            )
        else:
            # Every worker writes (saving may run collectives); only the
            # chief's files are kept.
            prefix = self.checkpoint.write(
                os.path.join(self._scratch(), f"ckpt-{step}")
            )
            tf.io.gfile.rmtree(self._scratch())
        self._saved_step = step
        return prefix

    def set_aside_after(self, step):
        """Moves the checkpoints newer than `step` to `diverged/`.

        Returns:
            The newest checkpoint left, or None.
        """
        if not self.cluster.is_chief:
            return self.latest()
        left = checkpoint_files.set_aside(self.directory, step)
        self._saved_step = None
        return left

    def save_best(self, step, metrics):
        """Writes the current state to `model_dir/best`; returns its path.

        The checkpoint is written atomically as `best/ckpt-<step>`, then
        `best/best.json` (written atomically) names it; the previous best
        is kept as a fallback (see `best_candidates`).

        Args:
            step: The step being saved.
            metrics: Dict written with it to `best/best.json`.
        """
        name = f"ckpt-{int(step)}"
        if not self.cluster.is_chief:
            scratch = self._scratch()
            path = self.checkpoint.write(os.path.join(scratch, "best", name))
            tf.io.gfile.rmtree(scratch)
            return path
        tf.io.gfile.makedirs(self.best_dir)
        path = os.path.join(self.best_dir, name)
        checkpoint_files.write_atomically(self.checkpoint, path)
        summaries.write_json(
            os.path.join(self.best_dir, "best.json"),
            {"step": int(step), "checkpoint": path, **metrics},
        )
        checkpoint_files.update_state(self.best_dir, path, 2)
        return path

    def best_candidates(self):
        """The best checkpoints, newest first (the latest best, then the
        one before it; a `best/ckpt` of older runs last)."""
        found = checkpoint_files.candidates(self.best_dir)
        legacy = os.path.join(self.best_dir, "ckpt")
        if tf.io.gfile.exists(legacy + ".index"):
            found.append(legacy)
        return found

    def read_best(self, read):
        """Calls `read(path)` on the newest best checkpoint that reads.

        One that fails to read is reported in one line and the previous
        one is tried.

        Returns:
            `(path, read(path))`.

        Raises:
            ValueError: when there is no readable best checkpoint.
        """
        tried = []
        for path in self.best_candidates():
            try:
                return path, read(path)
            except (ValueError, AssertionError):
                raise
            except Exception as error:  # noqa: BLE001 - unreadable files
                reason = " ".join(f"{type(error).__name__}: {error}".split())
                logging.warning(
                    "Best checkpoint %s is unreadable (%s); trying the "
                    "previous one.",
                    path,
                    reason[:300],
                )
                tried.append(os.path.basename(path))
        raise ValueError(
            f"No readable best checkpoint in {self.best_dir}"
            + (f" (tried {', '.join(tried)})." if tried else ".")
        )


def _hyperparameters(optimizer):
    """The optimizer's variables that hold configuration, not state.

    Keras stores a float learning rate as a variable named
    `learning_rate`; the checkpoint keeps it, but on resume the
    configuration's value wins.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return [v for v in optimizer.variables if v.name == "learning_rate"]
