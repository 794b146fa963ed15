"""Fast partition scoring: distil single-task teachers into a partition."""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfmtl.data.pipeline import make_dataset
from tfmtl.methods.feature_partitioning.feature_partitioning import (
    FeaturePartitioning,
)
from tfmtl.methods.feature_partitioning.global_step_decay import (
    GlobalStepDecay,
)


class Distillation:
    """Scores a partition by how well its last stage mimics the teachers.

    Teachers are single-task networks (`MultiTaskModel` over a one-task
    `FeaturePartitioning`) with the same trunk shape. For task t, the
    teacher's own stem and early stages (frozen, inference mode) produce the
    input of the last stage; the student (a `FeaturePartitioning` over all
    tasks built from the candidate partition) runs its masked last stage on
    it with task t's masks and norms. The loss is the mean squared error
    between the channel concatenations of the student's and the teacher's
    last-stage block outputs (pure feature mimicry, no labels). Tasks take
    turns (round robin), each with its own optimizer.

    The score is the accuracy of the teacher's frozen head on the student's
    features, divided per task by a reference accuracy, averaged over tasks.

    Args:
        teachers: Dict task name -> trained single-task `MultiTaskModel`.
        train_data: `DataSource` with the tasks' labels.
        eval_data: `DataSource` for scoring (default `train_data`).
        train_split: Split name, or dict task -> split.
        eval_split: Split name, or dict task -> split.
        steps: Distillation steps (reference 3,000).
        batch_size: Batch per step (reference 4).
        learning_rate: SGD learning rate (reference 1.0).
        momentum: Nesterov momentum (reference 0.9).
        weight_decay: L2 on the kernels a task may update (reference 1e-5).
        lr_drop_step: Global step (all tasks' steps together) after which
            every task's learning rate drops 10x (reference 2,000).
        eval_examples: Scoring examples per task (reference 3,000).
        eval_batch_size: Scoring batch.
        reference: Dict task -> accuracy that scores 1 (default: the
            teacher's own accuracy on the same examples).
        mask_seed: Seed of the mask solver.
        seed: Seed of the student's initialisation and data order.
        pretrained: Optional trunk the student starts from (the reference
            starts it from its ImageNet network; see
            `FeaturePartitioning.pretrained`); default random.
        pretrained_tasks: Tasks of the run `pretrained` comes from.

    Example:
    ```python
    scorer = Distillation({"a": teacher_a, "b": teacher_b}, source)
    result = scorer.score(Partition.independent(2))
    result["score"], result["accuracy/a"]
    ```

    Reference:
        Newell et al., arXiv:1908.04339, Section "distillation".
    """

    def __init__(
        self,
        teachers,
        train_data,
        eval_data=None,
        train_split="train",
        eval_split="validation",
        steps=3000,
        batch_size=4,
        learning_rate=1.0,
        momentum=0.9,
        weight_decay=1e-5,
        lr_drop_step=2000,
        eval_examples=3000,
        eval_batch_size=64,
        reference=None,
        mask_seed=0,
        seed=0,
        pretrained=None,
        pretrained_tasks=1,
    ):
        if not teachers:
            raise ValueError("Distillation needs at least one teacher.")
        self.teachers = dict(teachers)
        self.task_names = tuple(self.teachers)
        self.train_data = train_data
        self.eval_data = eval_data or train_data
        self.train_split, self.eval_split = train_split, eval_split
        self.steps, self.batch_size = int(steps), int(batch_size)
        self.learning_rate, self.momentum = learning_rate, momentum
        self.weight_decay = weight_decay
        self.lr_drop_step = int(lr_drop_step)
        self.eval_examples = int(eval_examples)
        self.eval_batch_size = int(eval_batch_size)
        self.reference = dict(reference) if reference else None
        self.mask_seed, self.seed = mask_seed, seed
        self.pretrained, self.pretrained_tasks = pretrained, pretrained_tasks
        first = next(iter(self.teachers.values())).sharing
        self.widths, self.blocks = first.widths, first.blocks_per_stage
        self._teacher_accuracy = None
        self.optimizers = {}  # task -> optimizer of the last `distil`

    def _split(self, split, task):
        return split[task] if isinstance(split, dict) else split

    def _student(self, partition):
        keras.utils.set_random_seed(self.seed)
        student = FeaturePartitioning(
            self.task_names,
            partition,
            widths=self.widths,
            blocks_per_stage=self.blocks,
            mask_seed=self.mask_seed,
            pretrained=self.pretrained,
            pretrained_tasks=self.pretrained_tasks,
            name="student",
        )
        student.build((None, None, None, 3))
        return student

    @staticmethod
    def _teacher_trunk(task_model):
        return task_model.sharing.backbone

    def _task_variables(self, student, index):
        trunk = student.backbone
        variables = []
        for block in trunk.last_stage_blocks:
            variables += block.conv1.trainable_variables
            variables += block.conv2.trainable_variables
            variables += block.bn1.norms[index].trainable_variables
            variables += block.bn2.norms[index].trainable_variables
        return variables + trunk.end_norm.norms[index].trainable_variables

    def _train_fn(self, student, task, index, optimizer, variables):
        teacher = self._teacher_trunk(self.teachers[task])

        @tf.function
        def step(images):
            x = teacher.prefix(images, 0, training=False)
            target = tf.concat(teacher.last_stage(x, 0, training=False), -1)
            with tf.GradientTape() as tape:
                outputs = student.backbone.last_stage(x, index, training=True)
                loss = tf.reduce_mean(
                    tf.square(tf.concat(outputs, -1) - target)
                )
                decay = tf.add_n(
                    [
                        tf.reduce_sum(
                            tf.square(b.conv1.effective_kernel(index))
                        )
                        for b in student.backbone.last_stage_blocks
                    ]
                    + [
                        tf.reduce_sum(tf.square(b.conv2.kernel))
                        for b in student.backbone.last_stage_blocks
                    ]
                )
                # compat: decay enters the loss (on the gradient-masked
                # kernels), so it never moves filters outside the task's
                # backward mask; the reference decays them in the optimizer.
                total = loss + 0.5 * self.weight_decay * decay
            grads = tape.gradient(total, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return loss

        return step

    def _batches(self, task, split, batch_size, train):
        # Scoring reads a seeded random subset of `eval_examples` images
        # (the same for every candidate), as the reference's cached random
        # validation subset; file order could be sorted by class.
        dataset = make_dataset(
            self.train_data if train else self.eval_data,
            self._split(split, task),
            (task,),
            batch_size,
            shuffle=True,
            repeat=train,
            seed=self.seed,
            drop_remainder=train,
        )
        if not train:
            dataset = dataset.take(-(-self.eval_examples // batch_size))
        return dataset

    def distil(self, partition):
        """Trains a student for `partition`; returns it and the last losses."""
        student = self._student(partition)
        # The reference drops every task's rate at the same global step
        # (`main.py::train`); each optimizer here counts only its own task's
        # steps (1 / N of them), so the schedule reads the global step.
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
        schedule = GlobalStepDecay(
            [self.lr_drop_step],
            [self.learning_rate, self.learning_rate / 10],
            global_step,
        )
        fns, iterators, self.optimizers = {}, {}, {}
        for index, task in enumerate(self.task_names):
            optimizer = keras.optimizers.SGD(
                schedule, momentum=self.momentum, nesterov=True
            )
            self.optimizers[task] = optimizer
            variables = self._task_variables(student, index)
            optimizer.build(variables)
            fns[task] = self._train_fn(
                student, task, index, optimizer, variables
            )
            iterators[task] = iter(
                self._batches(task, self.train_split, self.batch_size, True)
            )
        losses = {}
        for step in range(self.steps):
            global_step.assign(step)
            task = self.task_names[step % len(self.task_names)]
            images = next(iterators[task])["image"]
            losses[task] = float(fns[task](images))
        return student, losses

    def _accuracy(self, task, features_fn):
        correct = total = 0
        head = self.teachers[task].heads[task]
        for batch in self._batches(
            task, self.eval_split, self.eval_batch_size, False
        ):
            logits = head(features_fn(batch["image"]), training=False)
            labels = np.asarray(batch["labels"][task]).reshape(-1)
            pred = np.argmax(np.asarray(logits), axis=-1).reshape(-1)
            correct += int((pred == labels).sum())
            total += len(labels)
        return correct / max(total, 1)

    def teacher_accuracy(self):
        """Each teacher's own accuracy on the scoring examples."""
        if self._teacher_accuracy is None:
            self._teacher_accuracy = {}
            for task in self.task_names:
                trunk = self._teacher_trunk(self.teachers[task])
                self._teacher_accuracy[task] = self._accuracy(
                    task, lambda x, t=trunk: t(x, task=0, training=False)
                )
        return self._teacher_accuracy

    def score(self, partition):
        """Distils `partition`; returns `score`, `accuracy/<task>`, ...

        Returns:
            Dict with `score` (mean normalised accuracy), per task
            `accuracy/<task>` and `normalized/<task>`, `loss/<task>` (last
            distillation loss), `task_scores` (the accuracies in task
            order) and `seconds`.
        """
        started = time.time()
        student, losses = self.distil(partition)
        reference = self.reference or self.teacher_accuracy()
        result = {}
        for index, task in enumerate(self.task_names):
            teacher = self._teacher_trunk(self.teachers[task])

            def features(images, i=index, t=teacher):
                x = t.prefix(images, 0, training=False)
                return student.backbone.last_stage(x, i, training=False)[-1]

            accuracy = self._accuracy(task, tf.function(features))
            result[f"accuracy/{task}"] = accuracy
            result[f"normalized/{task}"] = accuracy / max(reference[task], 1e-6)
            result[f"loss/{task}"] = losses.get(task, float("nan"))
        result["score"] = float(
            np.mean([result[f"normalized/{t}"] for t in self.task_names])
        )
        # Per-task rewards of multi-objective ES, in task order.
        result["task_scores"] = [
            result[f"accuracy/{t}"] for t in self.task_names
        ]
        result["seconds"] = time.time() - started
        logging.info("Distillation score %.4f", result["score"])
        return result
