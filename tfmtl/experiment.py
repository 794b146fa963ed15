"""The top-level function that gin configures: one run in one mode.

`run` is plain Python with keyword-only arguments; the run's parts go to
`tfmtl.trainers.builder.build_controller`; `tfmtl/train.py` wraps it
with gin. Tests call it directly.
"""

import dataclasses
import inspect
import os

import tensorflow as tf
from absl import logging

from tfmtl.trainers import builder
from tfmtl.trainers.builder import build_controller
from tfmtl.trainers.distribute import make_strategy

MODES = ("train", "evaluate", "train_and_evaluate", "export")
TRAINING_MODES = ("train", "train_and_evaluate")


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
    train_steps,
    eval_every=None,
    eval_steps=None,
    strategy="auto",
    deterministic=False,
    export_dir=None,
    allow_untrained=False,
    **parts,
):
    """Builds a run and runs one mode.

    Inside a Vertex AI job, `AIP_MODEL_DIR` and `AIP_CHECKPOINT_DIR` are used
    when `model_dir` is not given, and `AIP_TENSORBOARD_LOG_DIR` receives the
    summaries (see `Directories.resolve`). `TF_CONFIG` or `CLUSTER_SPEC`
    select `MultiWorkerMirroredStrategy` when `strategy` is "auto".

    Args:
        mode: One of `MODES`.
        model_dir: Directory holding all state of the run.
        train_steps: Target global step of training.
        eval_every: Steps between evaluations in `train_and_evaluate`.
        eval_steps: Batches per evaluation (None: whole split).
        strategy: "auto", "default", "mirrored" or "multi_worker", or a
            `tf.distribute.Strategy`.
        deterministic: Make TensorFlow ops deterministic (reproducible runs,
            bit-exact resumes; somewhat slower).
        export_dir: Export destination (default `model_dir/export`).
        allow_untrained: Let `evaluate` and `export` run without a
            checkpoint (on the random initialisation); otherwise that is an
            error.
        **parts: The run's parts and settings, passed to
            `tfmtl.trainers.builder.build_controller` (which documents them
            all and rejects unknown names): `model` (e.g. gin's
            `@MultiTaskModel`), `tasks`, `optimizers`, `train_data`,
            `global_batch_size`, `weighting`, `schedule`, `actions`, ...

    Returns:
        Evaluation results (evaluate / train_and_evaluate), the last training
        logs (train) or `{"export_dir": path}` (export).
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; expected one of {MODES}.")
    # The builder's own signature: tests may wrap `build_controller`.
    known = inspect.signature(builder.build_controller).parameters
    unknown = sorted(set(parts) - set(known))
    if unknown:
        raise ValueError(
            f"experiment.run doesn't have a parameter {unknown[0]!r}; the "
            f"run's parts are {sorted(set(known) - {'model_dir', 'strategy'})}."
        )
    if mode in TRAINING_MODES and not (
        isinstance(train_steps, int)
        and not isinstance(train_steps, bool)
        and train_steps > 0
    ):
        raise ValueError(
            f"train_steps must be a positive int for mode {mode!r}, not "
            f"{train_steps!r} (set TRAIN_STEPS)."
        )
    dirs = Directories.resolve(model_dir)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    parts.setdefault("summary_dir", dirs.summary_dir)
    parts.setdefault("checkpoint_dir", dirs.checkpoint_dir)
    controller = build_controller(
        model_dir=dirs.model_dir, strategy=strategy, **parts
    )
    logging.info(
        "Run %s in %s: %d tasks, %d replica(s).",
        mode,
        dirs.model_dir,
        len(controller.tasks),
        strategy.num_replicas_in_sync,
    )
    untrained = not controller.latest_checkpoint()
    if mode not in TRAINING_MODES and untrained and not allow_untrained:
        raise ValueError(
            f"No checkpoint in {controller.checkpoints.directory}: "
            f"{mode} would use random weights. Train first, check "
            "MODEL_DIR, or pass --allow_untrained."
        )
    if mode == "train":
        return controller.train(train_steps)
    if mode == "evaluate":
        return controller.evaluate(eval_steps)
    if mode == "export":
        return {"export_dir": controller.export(export_dir)}
    return controller.train_and_evaluate(train_steps, eval_every, eval_steps)
