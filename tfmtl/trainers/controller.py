"""Estimator-style outer loops: train, evaluate, train_and_evaluate, export.

Everything a run owns lives under `model_dir` (local or `gs://`):
checkpoints (`ckpt-<step>`), TensorBoard summaries (`train/`, `eval/`), the
best checkpoint (`best/`) and exports (`export/`). `train` resumes from the
latest checkpoint: the step, model, optimizer slots, weighting state, action
state and the position of every data stream come back, so a killed run
continues exactly where its last checkpoint left it.
"""

import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfmtl.data.pipeline import make_dataset
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.trainers import checkpointing, summaries
from tfmtl.trainers.actions import (
    Evaluate,
    NanGuard,
    SaveCheckpoint,
    StopTraining,
)
from tfmtl.trainers.distribute import ClusterInfo
from tfmtl.trainers.schedules import Joint
from tfmtl.trainers.trainer import Trainer


def _instantiate(obj):
    """Calls factories (classes, gin configurables); keeps built objects."""
    if isinstance(obj, keras.layers.Layer | keras.optimizers.Optimizer):
        return obj
    return obj()


class Controller:
    """Builds a run under a strategy and drives its outer loops.

    Args:
        model_dir: Directory for all state of the run.
        tasks: Sequence of `tfmtl.tasks.Task`.
        sharing: Sharing layer, or a factory called inside the strategy scope.
        optimizers: Dict mapping variable group to an optimizer factory.
        train_data: A `DataSource`.
        global_batch_size: Training examples per step over all replicas.
        accumulation_steps: Micro-steps per optimizer update (gradient
            accumulation, see `Trainer`); steps, checkpoints and schedules
            of the controller count micro-steps, learning-rate schedules
            count updates.
        weighting: Weighting layer or factory (default equal weights).
        schedule: A `Schedule` (default `Joint`).
        eval_data: Evaluation `DataSource` (default `train_data`).
        train_splits: Dict mapping data stream name to a split of
            `train_data`; plans name streams.
        eval_split: Split used by `evaluate`.
        eval_batch_size: Global evaluation batch size.
        actions: Extra `Action`s.
        strategy: A `tf.distribute.Strategy` (default: the current one).
        checkpoint_every: Steps between checkpoints.
        summary_every: Steps between summaries and progress lines.
        max_checkpoints: Checkpoints kept.
        mixed_precision: None, "mixed_bfloat16" or "mixed_float16".
        seed: Seed of data order and initialisation.
        dense_interpolation: How `MultiTaskModel` resizes dense predictions
            to the input size ("bilinear" or "nearest").
        hparams: Dict of hyperparameters for TensorBoard's hparams plugin.
        config_text: Text (the gin config) shown in TensorBoard.
        summary_dir: Where summaries go (default `model_dir`).
        checkpoint_dir: Where checkpoints go (default `model_dir`; Vertex AI
            sets `AIP_CHECKPOINT_DIR`).
        num_summary_images: Examples drawn for dense tasks at evaluation.
    """

    def __init__(
        self,
        *,
        model_dir,
        tasks,
        sharing,
        optimizers,
        train_data,
        global_batch_size,
        accumulation_steps=1,
        weighting=None,
        schedule=None,
        eval_data=None,
        train_splits=None,
        eval_split="validation",
        eval_batch_size=None,
        actions=(),
        strategy=None,
        checkpoint_every=500,
        summary_every=50,
        max_checkpoints=3,
        mixed_precision=None,
        seed=0,
        dense_interpolation="bilinear",
        hparams=None,
        config_text=None,
        summary_dir=None,
        checkpoint_dir=None,
        num_summary_images=3,
    ):
        if not model_dir:
            raise ValueError("model_dir is required.")
        self.model_dir, self.tasks = str(model_dir), list(tasks)
        self.checkpoint_dir = str(checkpoint_dir or model_dir)
        self.task_names = tuple(t.name for t in self.tasks)
        self.train_data, self.eval_data = train_data, eval_data or train_data
        self.train_splits = dict(train_splits or {"train": "train"})
        self.eval_split = eval_split
        self.global_batch_size = int(global_batch_size)
        self.accumulation_steps = int(accumulation_steps)
        self.eval_batch_size = int(eval_batch_size or global_batch_size)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.cluster = ClusterInfo.from_environment()
        self.seed, self.hparams, self.config_text = seed, hparams, config_text
        self.dense_interpolation = dense_interpolation
        self.summary_every = int(summary_every)
        self.num_summary_images = num_summary_images
        self.schedule = (schedule or Joint()).bind(self.task_names)
        self.best_dir = os.path.join(self.model_dir, "best")
        for plan in self.schedule.plans():
            if plan.data not in self.train_splits:
                raise ValueError(
                    f"Schedule reads data stream {plan.data!r}; streams are "
                    f"{sorted(self.train_splits)} (set train_splits)."
                )
        if mixed_precision:
            keras.mixed_precision.set_global_policy(mixed_precision)
        self.actions = list(actions)
        self.checkpoint_every = int(checkpoint_every)
        self._build(
            sharing, optimizers, weighting, mixed_precision, max_checkpoints
        )
        self._writers = summaries.Writers(
            summary_dir or self.model_dir, self.cluster.is_chief
        )
        self._iterators = {}
        self.last_evaluation = {}

    # ------------------------------------------------------------ building
    def _build(self, sharing, optimizers, weighting, precision, max_to_keep):
        from tfmtl.weighting import EW

        keras.utils.set_random_seed(self.seed)
        example = make_dataset(
            self.train_data,
            next(iter(self.train_splits.values())),
            self.task_names,
            1,
            shuffle=False,
            repeat=False,
        ).element_spec
        self.image_shape = tuple(example["image"].shape[1:])
        with self.strategy.scope():
            self.model = MultiTaskModel(
                _instantiate(sharing),
                {t.name: t.head() for t in self.tasks},
                dense_interpolation=self.dense_interpolation,
            )
            outputs = self.model(
                tf.zeros((1, *self.image_shape)), training=False
            )
            if self.strategy.num_replicas_in_sync > 1:
                _synchronize_batch_norm(self.model)
            _check_label_shapes(self.tasks, example["labels"], outputs)
            # Weightings always compute in float32, whatever the policy.
            policy = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy("float32")
            try:
                self.weighting = _instantiate(weighting or EW)
            finally:
                keras.mixed_precision.set_global_policy(policy)
            self.weighting.build(len(self.tasks))
            groups = self.model.variable_groups()
            groups["weights"] = groups.get("weights", []) + list(
                self.weighting.trainable_variables
            )
            self.optimizers = {}
            for group, factory in optimizers.items():
                opt = _instantiate(factory)
                if precision == "mixed_float16":
                    opt = keras.optimizers.LossScaleOptimizer(opt)
                opt.build(groups.get(group, []))
                self.optimizers[group] = opt
            self.trainer = Trainer(
                self.model,
                self.tasks,
                self.optimizers,
                self.weighting,
                self.strategy,
                self.global_batch_size,
                self.accumulation_steps,
            )
        for plan in self.schedule.plans():
            self.trainer.check_plan(plan)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.data_positions = {
            name: tf.Variable(0, dtype=tf.int64, trainable=False)
            for name in self.train_splits
        }
        for action in self.actions:
            if hasattr(action, "bind"):
                action.bind(self)  # creates checkpointed state for the run
        self.checkpoint = checkpointing.make_checkpoint(
            self.global_step,
            self.model,
            self.weighting,
            self.optimizers,
            self.data_positions,
            self.actions,
            self.trainer.accumulator,
        )
        directory = self.checkpoint_dir
        if not self.cluster.is_chief:
            # Every worker must save (collectives); only the chief's copy is
            # kept.
            directory = os.path.join(
                self.checkpoint_dir,
                ".workers",
                f"worker_{self.cluster.task_id}",
            )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            directory,
            max_to_keep=max_to_keep,
            step_counter=self.global_step,
        )

    # --------------------------------------------------------- checkpoints
    def latest_checkpoint(self):
        """Path of the newest checkpoint of the run, or None."""
        return tf.train.latest_checkpoint(self.checkpoint_dir)

    def restore(self, path=None):
        """Restores `path` (default: the latest checkpoint); returns it."""
        path = path or self.latest_checkpoint()
        if path:
            checkpointing.restore(
                self.checkpoint, path, self.model, self.weighting
            )
            self._iterators = {}
            logging.info("Restored %s (step %d).", path, self.step)
        return path

    def save_checkpoint(self):
        """Writes a checkpoint for the current step; returns its path."""
        path = self.manager.save(checkpoint_number=self.global_step)
        if not self.cluster.is_chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path

    def save_best_checkpoint(self, step, metrics):
        """Writes the current state to `model_dir/best`; returns its path."""
        prefix = os.path.join(self.best_dir, "ckpt")
        if not self.cluster.is_chief:
            # Every worker must write (collectives); its copy is dropped.
            worker = f"worker_{self.cluster.task_id}"
            scratch = os.path.join(self.checkpoint_dir, ".workers", worker)
            path = self.checkpoint.write(os.path.join(scratch, "best", "ckpt"))
            tf.io.gfile.rmtree(scratch)
            return path
        path = self.checkpoint.write(prefix)
        if self.cluster.is_chief:
            summaries.write_json(
                os.path.join(self.best_dir, "best.json"),
                {"step": int(step), "checkpoint": path, **metrics},
            )
        return path

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    # ------------------------------------------------------------- training
    def _iterator(self, stream):
        if stream not in self._iterators:
            split, start = (
                self.train_splits[stream],
                self.data_positions[stream],
            )
            start = int(start.numpy())

            def dataset_fn(context):
                return make_dataset(
                    self.train_data,
                    split,
                    self.task_names,
                    self.global_batch_size,
                    shuffle=True,
                    repeat=True,
                    seed=self.seed,
                    start_step=start,
                    input_context=context,
                )

            dist = self.strategy.distribute_datasets_from_function(dataset_fn)
            self._iterators[stream] = iter(dist)
        return self._iterators[stream]

    def train(self, steps, eval_every=None, eval_steps=None):
        """Trains until the global step reaches `steps`, resuming if possible.

        Args:
            steps: Target global step (not a number of additional steps).
            eval_every: Evaluate every this many steps (None: never).
            eval_steps: Batches per evaluation (None: the whole split).

        Returns:
            The host-side logs of the last step.
        """
        self.restore()
        self._writers.write_start(self.hparams, self.config_text, self.step)
        logs, window, started = {}, summaries.Window(), time.time()
        first_step, last_time = self.step, time.time()
        # Order matters: the NaN guard runs before anything is saved, and
        # evaluation (with its actions) before the checkpoint of the step.
        train_actions = [NanGuard()] + [
            a for a in self.actions if a.on == "train"
        ]
        if eval_every:
            train_actions.append(Evaluate(eval_every, eval_steps))
        train_actions.append(SaveCheckpoint(self.checkpoint_every))
        try:
            while self.step < steps:
                plan = self.schedule(self.step)
                probes = self._probes(self.step + 1, plan)
                logs = self.trainer.train_step(
                    self._iterator(plan.data), plan, probes
                )
                self.global_step.assign_add(1)
                self.data_positions[plan.data].assign_add(1)
                for probe in probes:
                    prefix = f"probe/{probe.name}/"
                    probe.record(
                        self.step,
                        {
                            k[len(prefix) :]: np.asarray(logs.pop(k))
                            for k in list(logs)
                            if k.startswith(prefix)
                        },
                        self,
                    )
                logs = {k: float(v) for k, v in logs.items()}
                window.add(logs)
                step = self.step
                if step % self.summary_every == 0 or step == steps:
                    now = time.time()
                    rate = (
                        window.count
                        * self.global_batch_size
                        / max(now - last_time, 1e-9)
                    )
                    averaged = window.mean()
                    averaged["throughput/examples_per_second"] = rate
                    for group, opt in self.optimizers.items():
                        averaged[f"lr/{group}"] = _learning_rate(opt)
                    self._writers.scalars("train", averaged, step)
                    summaries.progress(
                        step, steps, averaged, rate, first_step, started
                    )
                    window, last_time = summaries.Window(), now
                for action in train_actions:
                    if step % action.every_n_steps == 0:
                        action(step, logs, self)
        except StopTraining as stop:
            logging.info("%s", stop)
        for action in self.actions:
            if hasattr(action, "finalize"):
                action.finalize(self)
        self.save_checkpoint()
        self._writers.flush()
        return logs

    def _probes(self, step, plan):
        """Actions that probe the batch of this step (`replica_probe`)."""
        return tuple(
            a
            for a in self.actions
            if hasattr(a, "replica_probe")
            and step % a.probe_every_n_steps == 0
            and a.wants(plan, self)
        )

    def _run_eval_actions(self, step, results):
        for action in self.actions:
            if action.on == "eval":
                action(step, results, self)

    # ----------------------------------------------------------- evaluation
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
            self.restore(checkpoint)
        dataset = make_dataset(
            self.eval_data,
            self.eval_split,
            self.task_names,
            self.eval_batch_size,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
        )
        if steps:
            dataset = dataset.take(steps)
        totals, first = {}, None
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            stats = tf.nest.map_structure(
                np.asarray, self.trainer.eval_step(batch)
            )
            totals = (
                stats
                if not totals
                else tf.nest.map_structure(np.add, totals, stats)
            )
        if not totals:
            raise ValueError(f"Evaluation split {self.eval_split!r} is empty.")
        results = self._results(totals)
        step = self.step
        self._writers.scalars("eval", results, step)
        first = next(iter(dataset.take(1)))
        self._writers.images("eval", self._dense_images(first), step)
        self._writers.flush()
        logging.info(
            "eval step %d: %s",
            step,
            ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())),
        )
        self.last_evaluation = {"step": step, "results": results}
        if self.cluster.is_chief:
            summaries.write_json(
                os.path.join(self.model_dir, "eval_results.json"),
                {"step": step, "split": self.eval_split, "results": results},
            )
        self._run_eval_actions(step, results)
        return results

    def _results(self, totals):
        results, total = {}, 0.0
        for task in self.tasks:
            entry = totals[task.name]
            loss = float(entry["loss_sum"] / max(entry["count"], 1.0))
            results[f"loss/{task.name}"], total = loss, total + loss
            for i, metric in enumerate(task.metrics):
                for key, value in metric.result(entry[f"metric{i}"]).items():
                    results[f"metric/{task.name}/{key}"] = float(value)
        results["loss/total"] = total
        return results

    def _dense_images(self, batch):
        dense = [t for t in self.tasks if t.dense]
        if not dense or not self.num_summary_images:
            return {}
        images = batch["image"][: self.num_summary_images]
        outputs = self.model(images, training=False)
        return {
            t.name: summaries.dense_panel(
                t.kind,
                images,
                batch["labels"][t.name][: len(images)],
                outputs[t.name],
            )
            for t in dense
        }

    def train_and_evaluate(self, train_steps, eval_every, eval_steps=None):
        """Trains with periodic evaluation; returns the final results."""
        self.train(train_steps, eval_every=eval_every, eval_steps=eval_steps)
        if self.last_evaluation.get("step") != self.step:
            self.evaluate(eval_steps)
        return self.last_evaluation["results"]

    # --------------------------------------------------------------- export
    def export(self, export_dir=None):
        """Exports a SavedModel (`serve` signature) and a `.keras` file.

        Args:
            export_dir: Destination (default `model_dir/export`).

        Returns:
            The export directory.
        """
        export_dir = export_dir or os.path.join(self.model_dir, "export")
        if self.step == 0 and self.latest_checkpoint():
            self.restore()
        if not self.cluster.is_chief:
            return export_dir
        archive = keras.export.ExportArchive()
        archive.track(self.model)
        archive.add_endpoint(
            "serve",
            lambda images: self.model(images, training=False),
            input_signature=[
                tf.TensorSpec((None, *self.image_shape), tf.float32, "images")
            ],
        )
        archive.write_out(
            os.path.join(export_dir, "saved_model"), verbose=False
        )
        keras_path = os.path.join(export_dir, "model.keras")
        if keras_path.startswith("gs://"):
            local = os.path.join("/tmp", f"tfmtl_{os.getpid()}.keras")
            self.model.save(local)
            tf.io.gfile.copy(local, keras_path, overwrite=True)
        else:
            tf.io.gfile.makedirs(export_dir)
            self.model.save(keras_path)
        logging.info("Exported to %s", export_dir)
        return export_dir


def _synchronize_batch_norm(model):
    """Makes every BatchNormalization layer use cross-replica statistics.

    Unsynchronised layers would give each replica its own batch statistics
    and moving averages, so two replicas would not compute the update of one
    device on the same global batch.
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def _check_label_shapes(tasks, label_specs, outputs):
    """Raises ValueError when a task's labels cannot match its predictions."""
    for task in tasks:
        label = tuple(label_specs[task.name].shape[1:])
        pred = tuple(outputs[task.name].shape[1:])
        if task.kind in ("binary", "classification", "segmentation"):
            expected = pred[:-1]
        else:
            expected = pred
        if label != expected:
            raise ValueError(
                f"Task {task.name!r} ({task.kind}): the data gives labels of "
                f"shape {label} per example but the model predicts {pred}, "
                f"which needs labels of shape {expected}. Check the task's "
                "kind / channels and the data source."
            )


def _learning_rate(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(np.asarray(inner.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return float("nan")
