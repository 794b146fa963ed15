"""Shared pieces of the tfmtl.search backend tests: toy children, the
fake Vertex AI backend, readers of the search log and its events."""

import json
import os
import sys

from tests.search import toy_child
from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.partition_candidate import (
    PartitionCandidate,
)
from tfmtl.methods.feature_partitioning.partition_es import PartitionES
from tfmtl.search import SubprocessEvaluator, VertexBackend
from tfmtl.search.runner import LOG_NAME

SETTINGS = {"image_uri": "img:1", "machine_type": "n1-standard-4"}


def _evaluator(search_dir, calls, sleep=0.0, fail=None):
    command = [sys.executable, "-m", "tests.search.toy_child"]
    command += [f"--calls={calls}", f"--sleep={sleep}"]
    command += [f"--fail={fail}"] if fail is not None else []
    return SubprocessEvaluator(command, search_dir, PartitionCandidate(2))


def _vertex(search_dir, calls, client, output_dir, fail=None, **kwargs):
    kwargs.setdefault("poll_seconds", 0.05)
    return VertexBackend(
        _evaluator(search_dir, calls, fail=fail),
        client=client,
        project="p",
        region="us-central1",
        output_dir=output_dir,
        job_settings=kwargs.pop("job_settings", SETTINGS),
        **kwargs,
    )


def _in_process(sample_id, params, attempt, worker):
    del sample_id, attempt, worker
    return toy_child.score_of(Partition.from_vector(params, 2).forward)


def _es():
    return PartitionES(
        2, num_samples=4 + 4 * 3, init_random=4, num_deltas=2, num_to_use=2
    )


def _records(search_dir):
    with open(os.path.join(search_dir, LOG_NAME)) as f:
        lines = [json.loads(line) for line in f]
    return [r for r in lines if "event" not in r], [
        r for r in lines if r.get("event") == "job"
    ]


def _scalars(directory):
    """`{tag: [values in step order]}` of the TensorBoard events."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    events = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    events.Reload()
    return {
        tag: [
            float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)
        ]
        for tag in events.Tags()["tensors"]
    }


def report_lines(directory):
    with open(os.path.join(directory, "report.txt")) as f:
        return f.read().splitlines()


def _calls(path):
    with open(path) as f:
        return [json.loads(line) for line in f]
