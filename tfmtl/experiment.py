"""The top-level function that gin configures: one run in one mode.

`run` is plain Python with keyword-only arguments; `tfmtl/train.py` wraps it
with gin. Tests call it directly.
"""

import dataclasses
import os

import tensorflow as tf
from absl import logging

from tfmtl.trainers.controller import Controller
from tfmtl.trainers.distribute import make_strategy

MODES = ("train", "evaluate", "train_and_evaluate", "export")


@dataclasses.dataclass(frozen=True)
class Directories:
    """Where a run keeps its state.

    Attributes:
        model_dir: The run's directory (best checkpoint, exports, config).
        checkpoint_dir: Where checkpoints are written and resumed from.
        summary_dir: Where TensorBoard summaries go.
    """

    model_dir: str
    checkpoint_dir: str
    summary_dir: str

    @classmethod
    def resolve(cls, model_dir=None, environ=None) -> "Directories":
        """Applies Vertex AI's `AIP_*` variables to a run's directories.

        An explicit `model_dir` keeps all state of the run under it. Without
        one (a Vertex AI job whose `baseOutputDirectory` is set), the run
        lives in `AIP_MODEL_DIR` and its checkpoints in `AIP_CHECKPOINT_DIR`
        when set. Summaries go to `AIP_TENSORBOARD_LOG_DIR` whenever it is set,
        since that is the only place Vertex AI TensorBoard uploads from.

        Args:
            model_dir: The run's directory, or None.
            environ: Environment to read (default `os.environ`).

        Returns:
            The resolved directories.

        Raises:
            ValueError: when neither `model_dir` nor `AIP_MODEL_DIR` is set.
        """
        environ = os.environ if environ is None else environ
        checkpoint_dir = None
        if not model_dir:
            model_dir = environ.get("AIP_MODEL_DIR")
            checkpoint_dir = environ.get("AIP_CHECKPOINT_DIR")
        if not model_dir:
            raise ValueError(
                "Set MODEL_DIR (e.g. --gin.MODEL_DIR=\"'/tmp/run'\"), or run "
                "in a Vertex AI job with a base output directory."
            )
        model_dir = str(model_dir)
        return cls(
            model_dir=model_dir,
            checkpoint_dir=checkpoint_dir or model_dir,
            summary_dir=environ.get("AIP_TENSORBOARD_LOG_DIR") or model_dir,
        )


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
    accumulation_steps=1,
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
    dense_interpolation="bilinear",
    export_dir=None,
    hparams=None,
    config_text=None,
):
    """Builds a `Controller` and runs one mode.

    Inside a Vertex AI job, `AIP_MODEL_DIR` and `AIP_CHECKPOINT_DIR` are used
    when `model_dir` is not given, and `AIP_TENSORBOARD_LOG_DIR` receives the
    summaries (see `Directories.resolve`). `TF_CONFIG` or `CLUSTER_SPEC`
    select `MultiWorkerMirroredStrategy` when `strategy` is "auto".

    Args:
        mode: One of `MODES`.
        model_dir: Directory holding all state of the run.
        tasks: Sequence of `tfmtl.tasks.Task`.
        sharing: Sharing layer factory (e.g. `HardSharing` bound by gin).
        optimizers: Dict mapping variable group to optimizer factory.
        train_data: Training `DataSource`.
        global_batch_size: Examples per training step over all replicas.
        train_steps: Target global step of training.
        accumulation_steps: Micro-steps (batches of `global_batch_size`) per
            optimizer update; 1 updates every step (see `Trainer`).
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
        dense_interpolation: How dense predictions are resized to the input
            size, "bilinear" or "nearest" (see `MultiTaskModel`).
        export_dir: Export destination (default `model_dir/export`).
        hparams: Hyperparameters shown in TensorBoard's hparams plugin.
        config_text: Configuration text shown in TensorBoard.

    Returns:
        Evaluation results (evaluate / train_and_evaluate), the last training
        logs (train) or `{"export_dir": path}` (export).
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; expected one of {MODES}.")
    dirs = Directories.resolve(model_dir)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    controller = Controller(
        model_dir=dirs.model_dir,
        tasks=tasks,
        sharing=sharing,
        optimizers=optimizers,
        train_data=train_data,
        global_batch_size=global_batch_size,
        accumulation_steps=accumulation_steps,
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
        dense_interpolation=dense_interpolation,
        hparams=hparams,
        config_text=config_text,
        summary_dir=dirs.summary_dir,
        checkpoint_dir=dirs.checkpoint_dir,
    )
    logging.info(
        "Run %s in %s: %d tasks, %d replica(s).",
        mode,
        dirs.model_dir,
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
