"""The feature-partitioning jobs: score one partition, run a search.

Plain functions with keyword arguments, configured by gin in the binary
(`tfmtl/methods/feature_partitioning/main.py`); tests call them directly.
"""

import json
import os
import sys

from absl import logging

_BINARY = "tfmtl.methods.feature_partitioning.main"


def teacher_dirs(root, tasks):
    """`{task: "<root>/teacher_<task>"}`: where single-task runs live."""
    return {t: os.path.join(root, f"teacher_{t}") for t in tasks}


def load_teacher(path):
    """Loads a trained single-task model (a `.keras` file or a run dir).

    A run directory is read from its `export/model.keras`, written by
    `python -m tfmtl.train --mode=export`.
    """
    import keras

    import tfmtl.methods.feature_partitioning  # noqa: F401

    # Imported for their registered serialisable classes.
    import tfmtl.models.heads  # noqa: F401
    import tfmtl.models.multitask_model  # noqa: F401

    if not str(path).endswith(".keras"):
        path = os.path.join(path, "export", "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Teacher model {path} not found; train and export the "
            "single-task network first (single_task*.gin, --mode=export)."
        )
    return keras.saving.load_model(path)


def distill(
    *,
    teachers,
    train_data,
    distillation,
    partition="share_all",
    model_dir=None,
    result_file=None,
):
    """Scores one partition by distillation; writes and returns the result.

    Args:
        teachers: Dict task -> teacher (a model, a `.keras` path or a run
            directory with `export/model.keras`).
        train_data: `DataSource` of the tasks.
        distillation: `Distillation` factory (gin binds its settings),
            called with `teachers` and `train_data`.
        partition: Partition (preset name, dict, JSON path) when no
            `--partition_file` is given.
        model_dir: Directory for `result.json` (when no result file).
        result_file: Where the JSON result goes.

    Returns:
        The result dict of `Distillation.score`.
    """
    models = {
        task: load_teacher(t) if isinstance(t, str) else t
        for task, t in teachers.items()
    }
    scorer = distillation(teachers=models, train_data=train_data)
    result = scorer.score(partition)
    if result_file is None and model_dir:
        os.makedirs(model_dir, exist_ok=True)
        result_file = os.path.join(model_dir, "result.json")
    if result_file:
        with open(result_file + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(result_file + ".tmp", result_file)
    return result


def search(
    *,
    search_dir,
    searcher,
    num_tasks,
    worker_mode="cmd",
    child_gin_files=(),
    child_bindings=(),
    num_workers=4,
    max_retries=1,
    worst_score=0.0,
    devices=None,
    child_timeout=None,
    cleanup=False,
    debug_seed=0,
    debug_per_task=False,
    num_unique=1,
    backend=None,
):
    """Runs (or resumes) a partition search; returns its summary.

    Args:
        search_dir: Directory of the search log, summaries and children.
        searcher: `PartitionSearch` factory (ES, random or grid), called
            with `num_tasks`.
        num_tasks: Number of tasks.
        worker_mode: "cmd" (each evaluation is a `--mode=distill` child
            process) or "debug" (the synthetic `-||target - theta||`
            reward, in process).
        child_gin_files: Gin files of the children.
        child_bindings: Extra gin bindings of the children.
        num_workers: Children run at once.
        max_retries: Retries of a crashed child.
        worst_score: Score of a child that failed every attempt.
        devices: Device ids handed to workers round robin.
        child_timeout: Seconds before a child is killed.
        cleanup: Delete children's run directories after scoring.
        debug_seed: Seed of the debug target.
        debug_per_task: The debug reward also scores each task (for
            multi-objective ES).
        num_unique: Partitions along the depth of the trunk, searched
            together (the reference's `--num_unique`); `best.json` then
            holds a list of them, which `FeaturePartitioning` takes.
        backend: Factory of `tfmtl.search.backend_flags` for the "cmd"
            children (None: child processes in threads).
    """
    from tfmtl.methods.feature_partitioning.partition_candidate import (
        PartitionCandidate,
    )
    from tfmtl.methods.feature_partitioning.partition_debug_reward import (
        DebugReward,
    )
    from tfmtl.search import SearchRunner, SubprocessEvaluator

    searcher = searcher(num_tasks=num_tasks, num_unique=num_unique)
    if worker_mode == "debug":
        evaluate = DebugReward(
            num_tasks, debug_seed, debug_per_task, num_unique
        )
    elif worker_mode == "cmd":
        command = [sys.executable, "-m", _BINARY, "--mode=distill"]
        command += [f"--gin_file={f}" for f in child_gin_files]
        command += [f"--gin_bindings={b}" for b in child_bindings]
        evaluate = SubprocessEvaluator(
            command,
            search_dir,
            PartitionCandidate(
                num_tasks, getattr(searcher, "partition", None), num_unique
            ),
            devices=devices,
            timeout=child_timeout,
            cleanup=cleanup,
        )
        if backend is not None:
            evaluate = backend(evaluate, search_dir, num_workers, devices)
    else:
        raise ValueError(f"worker_mode must be cmd or debug: {worker_mode!r}")
    runner = SearchRunner(
        searcher,
        evaluate,
        search_dir,
        num_workers=num_workers,
        max_retries=max_retries,
        worst_score=worst_score,
    )
    summary = runner.run()
    logging.info(
        "Search done: best score %.4f after %d evaluations (%d failed).",
        summary["best_score"],
        summary["num_evaluations"],
        len(summary["failed"]),
    )
    return summary
