"""What an action sees of a run: a small, read-only view."""

import types

import keras


class RunContext:
    """The read-only view of a run that actions and probes' host parts get.

    Actions never see the `Controller`: they read the model, schedule,
    optimizers and last evaluation from here, write summaries through
    `writer`, and use the run's public services (`checkpoints`,
    `evaluator`, `evaluate`, `export`).

    Args:
        model: The run's `MultiTaskModel`.
        tasks: Sequence of `Task`, in the model's order.
        schedule: The bound `Schedule`.
        optimizers: Dict mapping variable group to optimizer.
        writer: The run's `summaries.Writers` (`scalars`, `images`).
        model_dir: The run's directory.
        is_chief: Whether this process writes files.
        image_shape: `(H, W, C)` of one input image.
        train_data: The training `DataSource`.
        train_splits: Dict mapping data stream to split.
        checkpoints_fn: Returns the run's `RunCheckpoints`.
        evaluator: The run's `Evaluator`.
        global_step: The run's int64 step variable, for schedules that
            must follow the global step inside traced steps (read it, never
            assign it).
        step_fn: Returns the current global step.
        evaluation_fn: Returns the last evaluation, `{"step", "results"}`
            (empty before the first).
        evaluate_fn: `evaluate_fn(steps)` evaluates now; returns results.
        export_fn: `export_fn(directory)` exports the model.

    Example:
    ```python
    class LogStep(Action):
        def __call__(self, step, logs, context):
            context.writer.scalars("train", {"step": step}, step)
    ```
    """

    def __init__(
        self,
        *,
        model,
        tasks,
        schedule,
        optimizers,
        writer,
        model_dir,
        is_chief,
        image_shape,
        train_data,
        train_splits,
        checkpoints_fn,
        evaluator,
        global_step,
        step_fn,
        evaluation_fn,
        evaluate_fn,
        export_fn,
    ):
        self._model, self._tasks = model, tuple(tasks)
        self._schedule = schedule
        self._optimizers = types.MappingProxyType(dict(optimizers))
        self._writer, self._model_dir = writer, str(model_dir)
        self._is_chief, self._image_shape = bool(is_chief), image_shape
        self._train_data = train_data
        self._train_splits = types.MappingProxyType(dict(train_splits))
        self._checkpoints_fn, self._evaluator = checkpoints_fn, evaluator
        self._global_step = global_step
        self._step_fn, self._evaluation_fn = step_fn, evaluation_fn
        self._evaluate_fn, self._export_fn = evaluate_fn, export_fn

    model = property(lambda self: self._model, doc="The model.")
    tasks = property(lambda self: self._tasks, doc="Tuple of `Task`.")
    schedule = property(lambda self: self._schedule, doc="The schedule.")
    optimizers = property(
        lambda self: self._optimizers, doc="Read-only `{group: optimizer}`."
    )
    writer = property(lambda self: self._writer, doc="Summary writers.")
    model_dir = property(lambda self: self._model_dir, doc="Run directory.")
    is_chief = property(lambda self: self._is_chief, doc="Writes files.")
    image_shape = property(lambda self: self._image_shape, doc="(H, W, C).")
    train_data = property(lambda self: self._train_data, doc="Train data.")
    train_splits = property(
        lambda self: self._train_splits, doc="Read-only `{stream: split}`."
    )
    checkpoints = property(
        lambda self: self._checkpoints_fn(), doc="The `RunCheckpoints`."
    )
    evaluator = property(lambda self: self._evaluator, doc="The `Evaluator`.")

    global_step = property(
        lambda self: self._global_step, doc="The step variable (read only)."
    )

    @property
    def task_names(self):
        """Tuple of task names, in the model's order."""
        return tuple(t.name for t in self._tasks)

    @property
    def step(self):
        """The current global step."""
        return int(self._step_fn())

    @property
    def last_evaluation(self):
        """`{"step": int, "results": dict}` of the last evaluation, or {}."""
        return dict(self._evaluation_fn())

    def learning_rate_schedule(self, group):
        """The `LearningRateSchedule` of `group`'s optimizer, or None.

        Keras 3 has no public getter for an optimizer's schedule (its
        `learning_rate` is the current value); this is the one place that
        reads the private `_learning_rate`.
        """
        optimizer = self._optimizers[group]
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(
            schedule, keras.optimizers.schedules.LearningRateSchedule
        ):
            return schedule
        return None

    def evaluate(self, steps=None):
        """Evaluates the current model (runs evaluation actions too)."""
        return self._evaluate_fn(steps)

    def export(self, directory):
        """Exports the current model to `directory`."""
        return self._export_fn(directory)
