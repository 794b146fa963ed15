"""Estimator-style outer loops: train, evaluate, train_and_evaluate, export.

Everything a run owns lives under `model_dir` (local or `gs://`):
checkpoints (`ckpt-<step>`), TensorBoard summaries (`train/`, `eval/`), the
best checkpoint (`best/`) and exports (`export/`). `train` resumes from the
latest checkpoint: the step, model, optimizer slots, weighting state, action
state and the position of every data stream come back, so a killed run
continues exactly where its last checkpoint left it.

The parts are built by `tfmtl.trainers.builder.build_controller`; this
module only runs the loops, as Orbit's controller does.
"""

import os

from absl import logging

from tfmtl.trainers.actions import StopTraining
from tfmtl.trainers.export import export_model
from tfmtl.trainers.preemption import TrainingInterrupted
from tfmtl.trainers.probes import due_probes, record_probes
from tfmtl.trainers.run_services import loop_actions, training_guard
from tfmtl.trainers.train_log import TrainLog


class Controller:
    """Drives the outer loops of a built run.

    Args:
        model_dir: Directory for all state of the run.
        trainer: The run's `Trainer` (model, tasks, optimizers, weighting,
            strategy).
        schedule: The bound `Schedule`.
        streams: The run's `TrainStreams`.
        image_shape: `(H, W, C)` of one input image.
        evaluator: The run's `Evaluator`.
        writers: The run's `summaries.Writers`.
        actions: Extra `Action`s.
        cluster: The process's `ClusterInfo`.
        services: The run's `RunServices` (global step, context,
            checkpoints); see `tfmtl.trainers.run_services`.
        checkpoint_every: Steps between checkpoints.
        summary_every: Steps between summaries and progress lines.
        hparams: Hyperparameters shown in TensorBoard.
        config_text: Configuration text shown in TensorBoard.
        nan_guard: The `NanGuard` run after every step (default one).
    """

    def __init__(
        self,
        *,
        model_dir,
        trainer,
        schedule,
        streams,
        image_shape,
        evaluator,
        writers,
        actions,
        cluster,
        services,
        checkpoint_every=500,
        summary_every=50,
        hparams=None,
        config_text=None,
        nan_guard=None,
    ):
        self.model_dir, self.trainer = str(model_dir), trainer
        self.model, self.weighting = trainer.model, trainer.weighting
        self.optimizers, self.strategy = trainer.optimizers, trainer.strategy
        self.tasks = list(trainer.tasks.values())
        self.task_names = trainer.task_names
        self.schedule, self.streams = schedule, streams
        self.image_shape, self.evaluator = image_shape, evaluator
        self.global_batch_size = trainer.global_batch_size
        self.cluster, self.actions = cluster, list(actions)
        self.checkpoint_every = int(checkpoint_every)
        self.summary_every = int(summary_every)
        self.hparams, self.config_text = hparams, config_text
        self.nan_guard = nan_guard
        self.writers = writers
        self.data_positions = streams.positions
        self.last_evaluation = {}
        self.global_step = services.global_step
        self.context, self.checkpoints = services.context, services.checkpoints
        self.best_dir = self.checkpoints.best_dir
        services.controller = self

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    def latest_checkpoint(self):
        """Path of the newest checkpoint of the run, or None."""
        return self.checkpoints.latest()

    def restore(self, path=None, model_only=False):
        """Restores `path` (default: the newest readable checkpoint).

        Args:
            path: A checkpoint prefix, or None.
            model_only: Restore the model, weighting, step and actions only
                (by name: `evaluate` and `export`), not the optimizers or
                data positions.

        Returns:
            The restored path, or None.
        """
        path = self.checkpoints.restore(path, model_only=model_only)
        if path:
            self.streams.reset()
        return path

    def save_checkpoint(self):
        """Writes a checkpoint for the current step; returns its path."""
        return self.checkpoints.save()

    def train(self, steps, eval_every=None, eval_steps=None):
        """Trains until the global step reaches `steps`, resuming if possible.

        Args:
            steps: Target global step (not a number of additional steps).
            eval_every: Evaluate every this many steps (None: never).
            eval_steps: Batches per evaluation (None: the whole split).

        Returns:
            The host-side logs of the last step.

        Raises:
            TrainingInterrupted: after SIGTERM or SIGINT, once the step
                has finished and a checkpoint is written.
            RunLockedError: when another process trains into the
                checkpoint directory.
        """
        guard = training_guard(self.checkpoints, self.strategy, self.cluster)
        with guard as watch:
            return self._train(steps, eval_every, eval_steps, watch)

    def _train(self, steps, eval_every, eval_steps, watch):
        self.checkpoints.check_structure(ordered=True)
        self.restore()
        self.writers.write_start(self.hparams, self.config_text, self.step)
        log = TrainLog(
            self.writers,
            self.optimizers,
            self.global_batch_size,
            steps,
            self.step,
            self.summary_every,
        )
        logs, ctx = {}, self.context
        loop = loop_actions(
            self.actions,
            eval_every,
            eval_steps,
            self.checkpoint_every,
            self.nan_guard,
        )
        try:
            while self.step < steps and not watch.stop():
                plan = self.schedule(self.step)
                probes = due_probes(self.actions, self.step + 1, plan, ctx)
                logs = self.trainer.train_step(
                    self.streams.iterator(plan.data), plan, probes
                )
                self.global_step.assign_add(1)
                self.streams.advance(plan.data)
                record_probes(probes, logs, self.step, ctx)
                logs = {k: float(v) for k, v in logs.items()}
                log.add(self.step, logs)
                for action in loop:
                    if self.step % action.every_n_steps == 0:
                        action(self.step, logs, ctx)
        except StopTraining as stop:
            logging.info("%s", stop)
        if watch.signum:
            # Preempted: save the state reached, no end-of-training work.
            self.save_checkpoint()
            self.writers.flush()
            raise TrainingInterrupted(watch.signum, self.step)
        finalizing = [a for a in self.actions if hasattr(a, "finalize")]
        for action in finalizing:
            action.finalize(self.context)
        # Written once: skipped when the loop saved this step already
        # (unless a `finalize` may have changed the state).
        self.checkpoints.save(force=bool(finalizing))
        self.writers.flush()
        return logs

    def evaluate(self, steps=None, checkpoint=None):
        """Evaluates the current (or given) checkpoint on the eval split.

        Args:
            steps: Number of batches (None: the whole split once).
            checkpoint: Checkpoint path to restore first (None: keep the
                current state, restoring the latest checkpoint when nothing
                has been trained in this process).

        Returns:
            Dict of results: `loss/<task>`, `loss/total` and
            `metric/<task>/<name>`.
        """
        if checkpoint or (self.step == 0 and self.latest_checkpoint()):
            self.restore(checkpoint, model_only=True)
        step = self.step
        results = self.evaluator.evaluate(step, steps)
        self.last_evaluation = {"step": step, "results": results}
        for action in self.actions:
            if action.on == "eval":
                action(step, results, self.context)
        return results

    def train_and_evaluate(self, train_steps, eval_every, eval_steps=None):
        """Trains with periodic evaluation; returns the final results."""
        self.train(train_steps, eval_every=eval_every, eval_steps=eval_steps)
        if self.last_evaluation.get("step") != self.step:
            self.evaluate(eval_steps)
        return self.last_evaluation["results"]

    def export(self, export_dir=None):
        """Exports a SavedModel (`serve` signature) and a `.keras` file.

        Args:
            export_dir: Destination (default `model_dir/export`).

        Returns:
            The export directory.
        """
        export_dir = export_dir or os.path.join(self.model_dir, "export")
        if self.step == 0 and self.latest_checkpoint():
            self.restore(model_only=True)
        if not self.cluster.is_chief:
            return export_dir
        return export_model(self.model, self.image_shape, export_dir)
