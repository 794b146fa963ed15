"""The top-level function that gin configures: one run in one mode.

`run` is plain Python with keyword-only arguments; `tfmtl/train.py` wraps it
with gin. Tests call it directly.
"""

import os

import tensorflow as tf
from absl import logging

from tfmtl.trainers.controller import Controller
from tfmtl.trainers.distribute import make_strategy

MODES = ("train", "evaluate", "train_and_evaluate", "export")


def run(
    *,
    mode="train_and_evaluate",
    model_dir=None,
    tasks,
    sharing,
    optimizers,
    train_data,
    global_batch_size,
    train_steps,
    weighting=None,
    schedule=None,
    eval_data=None,
    train_splits=None,
    eval_split="validation",
    eval_every=None,
    eval_steps=None,
    eval_batch_size=None,
    actions=(),
    strategy="auto",
    checkpoint_every=500,
    summary_every=50,
    mixed_precision=None,
    seed=0,
    deterministic=False,
    export_dir=None,
    hparams=None,
    config_text=None,
):
    """Builds a `Controller` and runs one mode.

    Vertex AI's `AIP_MODEL_DIR` is used when `model_dir` is not given, and
    `AIP_TENSORBOARD_LOG_DIR` (when set) receives the summaries.

    Args:
        mode: One of `MODES`.
        model_dir: Directory holding all state of the run.
        tasks: Sequence of `tfmtl.tasks.Task`.
        sharing: Sharing layer factory (e.g. `HardSharing` bound by gin).
        optimizers: Dict mapping variable group to optimizer factory.
        train_data: Training `DataSource`.
        global_batch_size: Examples per training step over all replicas.
        train_steps: Target global step of training.
        weighting: Weighting factory (default equal weights).
        schedule: A `Schedule` (default `Joint`).
        eval_data: Evaluation `DataSource` (default `train_data`).
        train_splits: Dict of data stream name to split.
        eval_split: Evaluation split.
        eval_every: Steps between evaluations in `train_and_evaluate`.
        eval_steps: Batches per evaluation (None: whole split).
        eval_batch_size: Global evaluation batch size.
        actions: Extra actions.
        strategy: "auto", "default", "mirrored" or "multi_worker".
        checkpoint_every: Steps between checkpoints.
        summary_every: Steps between summaries.
        mixed_precision: None, "mixed_bfloat16" or "mixed_float16".
        seed: Seed of initialisation and data order.
        deterministic: Make TensorFlow ops deterministic (reproducible runs,
            bit-exact resumes; somewhat slower).
        export_dir: Export destination (default `model_dir/export`).
        hparams: Hyperparameters shown in TensorBoard's hparams plugin.
        config_text: Configuration text shown in TensorBoard.

    Returns:
        Evaluation results (evaluate / train_and_evaluate), the last training
        logs (train) or `{"export_dir": path}` (export).
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; expected one of {MODES}.")
    model_dir = model_dir or os.environ.get("AIP_MODEL_DIR")
    if not model_dir:
        raise ValueError("Set MODEL_DIR (e.g. --gin.MODEL_DIR=\"'/tmp/run'\").")
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    controller = Controller(
        model_dir=model_dir,
        tasks=tasks,
        sharing=sharing,
        optimizers=optimizers,
        train_data=train_data,
        global_batch_size=global_batch_size,
        weighting=weighting,
        schedule=schedule,
        eval_data=eval_data,
        train_splits=train_splits,
        eval_split=eval_split,
        eval_batch_size=eval_batch_size,
        actions=actions,
        strategy=strategy,
        checkpoint_every=checkpoint_every,
        summary_every=summary_every,
        mixed_precision=mixed_precision,
        seed=seed,
        hparams=hparams,
        config_text=config_text,
        summary_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR"),
    )
    logging.info(
        "Run %s in %s: %d tasks, %d replica(s).",
        mode,
        model_dir,
        len(controller.tasks),
        strategy.num_replicas_in_sync,
    )
    if mode == "train":
        return controller.train(train_steps)
    if mode == "evaluate":
        return controller.evaluate(eval_steps)
    if mode == "export":
        return {"export_dir": controller.export(export_dir)}
    return controller.train_and_evaluate(train_steps, eval_every, eval_steps)
