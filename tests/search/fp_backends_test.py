"""Feature partitioning's ES search with real distillation children, on
fake Vertex AI jobs and on the local backend (large)."""

import functools
import json
import os

import numpy as np
import pytest

from tests.search.fake_vertex import FakeJobClient
from tests.search.hoa_backends_test import _vertex_factory
from tfmtl.search import backend_flags
from tfmtl.search.runner import LOG_NAME

TASKS = ("attr_a0", "attr_b0")
WIDTHS = (8, 8, 16)


def _teachers(directory):
    """Two tiny single-task FP teachers saved as `.keras` files."""
    import keras
    import tensorflow as tf

    from tfmtl import tasks as tasks_lib
    from tfmtl.data import SyntheticScenes
    from tfmtl.methods.feature_partitioning import FeaturePartitioning
    from tfmtl.models.multitask_model import MultiTaskModel

    source = SyntheticScenes(image_size=16, num_train=64, num_validation=32)
    paths = {}
    for task in TASKS:
        keras.utils.set_random_seed(0)
        (spec,) = tasks_lib.tasks_for(source, [task])
        model = MultiTaskModel(
            FeaturePartitioning(
                (task,), "share_all", widths=WIDTHS, blocks_per_stage=1
            ),
            {task: spec.head()},
        )
        model(tf.zeros((1, 16, 16, 3)))
        paths[task] = str(directory / f"teacher_{task}.keras")
        model.save(paths[task])
    return paths


def _search(search_dir, teachers, backend, num_samples):
    from tfmtl.methods.feature_partitioning import partition_jobs
    from tfmtl.methods.feature_partitioning.partition_es import PartitionES

    bindings = [
        f"TEACHERS = {teachers!r}",
        f"TASK_NAMES = {list(TASKS)!r}",
        "IMAGE_SIZE = 16",
        "NUM_TRAIN = 64",
        "NUM_VALIDATION = 32",
        "DISTILL_STEPS = 2",
        "DISTILL_BATCH_SIZE = 4",
        "DISTILL_EVAL_EXAMPLES = 16",
        "distillation.Distillation.eval_batch_size = 16",
    ]
    searcher = functools.partial(
        PartitionES,
        num_samples=num_samples,
        init_random=2,
        num_deltas=1,
        num_to_use=1,
        seed=3,
    )
    return partition_jobs.search(
        search_dir=str(search_dir),
        searcher=searcher,
        num_tasks=len(TASKS),
        child_gin_files=[
            "gin_configs/feature_partitioning/distill_synthetic.gin"
        ],
        child_bindings=bindings,
        num_workers=2,
        backend=backend,
    )


@pytest.mark.large
def test_fp_es_runs_distillation_children_on_both_backends(tmp_path):
    """Issue #19 item 4: `partition_jobs.search` (the FP binary's search)
    hands its distillation children to the backend: 4 ES evaluations as
    fake Vertex AI jobs running the FP binary's `--mode=distill` (one
    preempted and retried), then 2 on the local backend; every score is
    the child's own result file."""
    teachers = _teachers(tmp_path)
    client = FakeJobClient(tmp_path / "jobs", preempt={"tfmtl-fp-1-a0"})
    search_dir, bucket = tmp_path / "es", tmp_path / "bucket"
    summary = _search(
        search_dir,
        teachers,
        _vertex_factory(client, bucket, "tfmtl-fp"),
        num_samples=4,
    )
    assert summary["num_evaluations"] == 4 and not summary["failed"]
    assert summary["retried"] == [1]
    launched = client.launched()
    assert len(launched) == 5
    for job in launched:
        assert job["command"][:4] == [
            "python",
            "-m",
            "tfmtl.methods.feature_partitioning.main",
            "--mode=distill",
        ]
    with open(search_dir / LOG_NAME) as f:
        records = [json.loads(x) for x in f if '"event"' not in x]
    for record in records:
        remote = bucket / "samples" / str(record["id"]) / "result.json"
        with open(remote) as f:
            assert record["score"] == pytest.approx(json.load(f)["score"])
        assert np.isfinite(record["score"])
    local_dir = tmp_path / "local"

    def local(evaluator, directory, num_workers=1, devices=None):
        return backend_flags.make_backend(
            evaluator, directory, max_jobs=num_workers, devices=[]
        )

    summary = _search(local_dir, teachers, local, num_samples=2)
    assert summary["num_evaluations"] == 2 and not summary["failed"]
    assert summary["ran_where"] == {0: "local", 1: "local"}
    assert os.path.exists(local_dir / "samples" / "1" / "result.json")
