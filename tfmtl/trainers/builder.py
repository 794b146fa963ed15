"""Builds a run: model, weighting, optimizers, trainer, state, evaluator.

`build_controller` is what `tfmtl.experiment.run` calls; tests call it
directly. Everything with variables is created inside the strategy's scope,
under the run's precision policy, which is restored afterwards (the
process-wide Keras policy is never left changed).
"""

import contextlib

import keras
import tensorflow as tf

from tfmtl.data.pipeline import make_dataset
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.trainers import summaries
from tfmtl.trainers.controller import Controller
from tfmtl.trainers.distribute import ClusterInfo
from tfmtl.trainers.evaluator import Evaluator
from tfmtl.trainers.run_services import RunServices
from tfmtl.trainers.schedules import Joint
from tfmtl.trainers.train_streams import TrainStreams
from tfmtl.trainers.trainer import Trainer

PRECISIONS = (None, "float32", "mixed_bfloat16", "mixed_float16")


def _instantiate(obj, **kwargs):
    """Calls factories (classes, gin configurables); keeps built objects."""
    if isinstance(obj, keras.layers.Layer | keras.optimizers.Optimizer):
        return obj
    return obj(**kwargs)


@contextlib.contextmanager
def precision_policy(name):
    """Sets the Keras dtype policy for the block only (None: unchanged)."""
    previous = keras.mixed_precision.global_policy()
    if name:
        keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_model(tasks, model=None, sharing=None):
    """The `MultiTaskModel` of a run, unbuilt.

    Args:
        tasks: Sequence of `Task`; their heads are created here.
        model: A factory called as `model(heads=...)` (gin's
            `@MultiTaskModel`), or None.
        sharing: With `model=None`, a sharing layer or factory.
    """

    def heads():
        return {t.name: t.head() for t in tasks}

    # The sharing module is built before the heads, so initialisers draw
    # their seeds in the same order whichever way the model is given.
    if model is not None:
        if sharing is not None:
            raise ValueError("Give either model or sharing, not both.")
        return model(heads=heads)
    if sharing is None:
        raise ValueError("A run needs a model (or a sharing module).")
    return MultiTaskModel(_instantiate(sharing), heads())


def variable_groups(model, weighting):
    """`{group: variables}` of a run: the model's groups, with the
    weighting's trainable variables in "weights"."""
    groups = model.variable_groups()
    groups["weights"] = groups.get("weights", []) + list(
        weighting.trainable_variables
    )
    return groups


def build_controller(
    *,
    model_dir,
    tasks,
    optimizers,
    train_data,
    global_batch_size,
    model=None,
    sharing=None,
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
    hparams=None,
    config_text=None,
    summary_dir=None,
    checkpoint_dir=None,
    num_summary_images=3,
    nan_guard=None,
):
    """Builds every part of a run and returns its `Controller`.

    Args:
        model_dir: Directory for all state of the run.
        tasks: Sequence of `tfmtl.tasks.Task`.
        optimizers: Dict mapping variable group to an optimizer factory.
        train_data: A `DataSource`.
        global_batch_size: Training examples per step over all replicas.
        model: Model factory, called as `model(heads=...)` in the scope.
        sharing: Instead of `model`: a sharing layer or factory.
        accumulation_steps: Micro-steps per optimizer update (see
            `Trainer`); steps, checkpoints and schedules count micro-steps,
            learning-rate schedules count updates.
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
        mixed_precision: None, "mixed_bfloat16" or "mixed_float16"; the
            policy of the model built here.
        seed: Seed of data order and initialisation.
        hparams: Dict of hyperparameters for TensorBoard's hparams plugin.
        config_text: Text (the gin config) shown in TensorBoard.
        summary_dir: Where summaries go (default `model_dir`).
        checkpoint_dir: Where checkpoints go (default `model_dir`).
        num_summary_images: Examples drawn for dense tasks at evaluation.
        nan_guard: The `NanGuard` watching every step (default
            `NanGuard()`: non-finite values and 100x loss spikes).

    Returns:
        A `Controller`.
    """
    from tfmtl.weighting import EW

    if not model_dir:
        raise ValueError("model_dir is required.")
    if mixed_precision not in PRECISIONS:
        raise ValueError(
            f"mixed_precision must be one of {PRECISIONS}, not "
            f"{mixed_precision!r}."
        )
    tasks = list(tasks)
    names = tuple(t.name for t in tasks)
    train_splits = dict(train_splits or {"train": "train"})
    schedule = (schedule or Joint()).bind(names)
    for plan in schedule.plans():
        if plan.data not in train_splits:
            raise ValueError(
                f"Schedule reads data stream {plan.data!r}; streams are "
                f"{sorted(train_splits)} (set train_splits)."
            )
    strategy = strategy or tf.distribute.get_strategy()
    cluster = ClusterInfo.from_environment()
    keras.utils.set_random_seed(seed)
    example = make_dataset(
        train_data,
        next(iter(train_splits.values())),
        names,
        1,
        shuffle=False,
        repeat=False,
    ).element_spec
    image_shape = tuple(example["image"].shape[1:])
    with strategy.scope():
        with precision_policy(mixed_precision):
            net = build_model(tasks, model, sharing)
            outputs = net(tf.zeros((1, *image_shape)), training=False)
        if strategy.num_replicas_in_sync > 1:
            _synchronize_batch_norm(net)
        _check_label_shapes(tasks, example["labels"], outputs)
        # Weightings always compute in float32, whatever the policy.
        with precision_policy("float32"):
            weighting = _instantiate(weighting or EW)
        weighting.build(len(tasks))
        groups = variable_groups(net, weighting)
        built = {}
        for group, factory in optimizers.items():
            opt = _instantiate(factory)
            if mixed_precision == "mixed_float16":
                opt = keras.optimizers.LossScaleOptimizer(opt)
            opt.build(groups.get(group, []))
            built[group] = opt
        trainer = Trainer(
            net,
            tasks,
            built,
            weighting,
            strategy,
            global_batch_size,
            groups,
            accumulation_steps,
        )
    for plan in schedule.plans():
        trainer.check_plan(plan)
    writers = summaries.Writers(summary_dir or model_dir, cluster.is_chief)
    evaluator = Evaluator(
        net,
        tasks,
        strategy,
        eval_data or train_data,
        eval_split,
        eval_batch_size or global_batch_size,
        writers,
        model_dir,
        cluster.is_chief,
        num_summary_images,
    )
    streams = TrainStreams(
        train_data, train_splits, names, global_batch_size, strategy, seed
    )
    services = RunServices(
        trainer=trainer,
        schedule=schedule,
        streams=streams,
        image_shape=image_shape,
        evaluator=evaluator,
        writers=writers,
        actions=actions,
        cluster=cluster,
        model_dir=model_dir,
        checkpoint_dir=checkpoint_dir or model_dir,
        max_checkpoints=max_checkpoints,
    )
    return Controller(
        model_dir=model_dir,
        trainer=trainer,
        schedule=schedule,
        streams=streams,
        image_shape=image_shape,
        evaluator=evaluator,
        writers=writers,
        actions=actions,
        cluster=cluster,
        services=services,
        checkpoint_every=checkpoint_every,
        summary_every=summary_every,
        hparams=hparams,
        config_text=config_text,
        nan_guard=nan_guard,
    )


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
