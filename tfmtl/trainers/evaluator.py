"""Evaluation: summed metric statistics over a split, then the results.

Statistics come from one traced evaluation step (per replica, summed over
replicas) and are added up on the host with `metrics.accumulate`, in int64
and float64, so long evaluations neither overflow nor lose precision.
"""

import os

import tensorflow as tf
from absl import logging

from tfmtl.data.pipeline import make_dataset
from tfmtl.metrics.metric import accumulate
from tfmtl.trainers import summaries


def _accumulate(totals, stats):
    """`metrics.accumulate` over the nested `{task: {name: stats}}`."""
    for key, value in stats.items():
        if isinstance(value, dict):
            _accumulate(totals.setdefault(key, {}), value)
        else:
            accumulate(totals, {key: value})
    return totals


class Evaluator:
    """Scores the model of a run on an evaluation split.

    Args:
        model: The run's `MultiTaskModel`.
        tasks: Sequence of `Task`, in the model's order.
        strategy: The run's `tf.distribute.Strategy`.
        data: The evaluation `DataSource`.
        split: The split `evaluate` reads.
        batch_size: Global evaluation batch size.
        writers: The run's `summaries.Writers`.
        model_dir: Where `eval_results.json` goes.
        is_chief: Whether this process writes files.
        num_summary_images: Examples drawn for dense tasks (0: none).

    Example:
    ```python
    evaluator = Evaluator(
        model, tasks, strategy, data, "validation", 64, writers, dir
    )
    results = evaluator.evaluate(step=1000)   # {"loss/total": ..., ...}
    ```
    """

    def __init__(
        self,
        model,
        tasks,
        strategy,
        data,
        split,
        batch_size,
        writers,
        model_dir,
        is_chief=True,
        num_summary_images=3,
    ):
        self.model, self.tasks, self.strategy = model, list(tasks), strategy
        self.data, self.split = data, split
        self.task_names = tuple(t.name for t in self.tasks)
        self.batch_size = int(batch_size)
        self._step_fn = None
        self.writers, self.model_dir = writers, str(model_dir)
        self.is_chief = is_chief
        self.num_summary_images = int(num_summary_images or 0)

    def _dataset(self, data, split, steps):
        dataset = make_dataset(
            data,
            split,
            self.task_names,
            self.batch_size,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
        )
        return dataset.take(steps) if steps else dataset

    def statistics(self, data=None, split=None, steps=None, totals=None):
        """Summed statistics `{task: {"loss_sum", "count", "metric<i>"}}`.

        Args:
            data: A `DataSource` (default: the evaluation data).
            split: Its split (default: the evaluation split).
            steps: Batches read (None: the whole split once).
            totals: Running totals to add to (default: new ones).
        """
        data = self.data if data is None else data
        split = self.split if split is None else split
        totals = {} if totals is None else totals
        dataset = self._dataset(data, split, steps)
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            _accumulate(totals, self.step(batch))
        return totals

    def step(self, batch):
        """Sums of metric statistics and losses over one distributed batch.

        Runs eagerly on the host; the step is traced once.
        """
        if self._step_fn is None:

            @tf.function
            def step_fn(b):
                stats = self.strategy.run(self._replica_step, args=(b,))
                return tf.nest.map_structure(
                    lambda x: self.strategy.reduce("SUM", x, axis=None), stats
                )

            self._step_fn = step_fn
        return self._step_fn(batch)

    def _replica_step(self, batch):
        """Statistics on one replica. Runs inside `strategy.run`; traced."""
        outputs = self.model(batch["image"], training=False)
        stats = {}
        for task in self.tasks:
            labels, preds = batch["labels"][task.name], outputs[task.name]
            per_example = task.loss(labels, preds)
            entry = {
                "loss_sum": tf.reduce_sum(per_example),
                "count": tf.cast(tf.shape(per_example)[0], tf.float32),
            }
            for i, metric in enumerate(task.metrics):
                entry[f"metric{i}"] = metric.statistics(labels, preds)
            stats[task.name] = entry
        return stats

    def results(self, totals):
        """`loss/<task>`, `loss/total` and `metric/<task>/<name>`."""
        results, total = {}, 0.0
        for task in self.tasks:
            entry = totals[task.name]
            loss = float(entry["loss_sum"] / max(float(entry["count"]), 1.0))
            results[f"loss/{task.name}"], total = loss, total + loss
            for i, metric in enumerate(task.metrics):
                for key, value in metric.result(entry[f"metric{i}"]).items():
                    results[f"metric/{task.name}/{key}"] = float(value)
        results["loss/total"] = total
        return results

    def evaluate(self, step, steps=None):
        """Scores the current model; writes summaries and `eval_results.json`.

        Args:
            step: The global step the results are logged at.
            steps: Batches (None: the whole split once).

        Returns:
            The results dict (see `results`).

        Raises:
            ValueError: when the split is empty.
        """
        totals = self.statistics(steps=steps)
        if not totals:
            raise ValueError(f"Evaluation split {self.split!r} is empty.")
        results = self.results(totals)
        self.writers.scalars("eval", results, step)
        first = next(iter(self._dataset(self.data, self.split, 1)))
        self.writers.images("eval", self._dense_images(first), step)
        self.writers.flush()
        logging.info(
            "eval step %d: %s",
            step,
            ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())),
        )
        if self.is_chief:
            summaries.write_json(
                os.path.join(self.model_dir, "eval_results.json"),
                {"step": step, "split": self.split, "results": results},
            )
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
