"""tfmtl.search backends: local GPUs per child, Vertex AI jobs (faked).

The children are `toy_child` processes (no TensorFlow); the Vertex AI
client is `FakeJobClient`, whose jobs run their container command here.
"""

import sys

import numpy as np
import pytest

from tests.search.fake_vertex import FakeJobClient
from tests.search.search_helpers import (
    SETTINGS,
    _calls,
    _evaluator,
    _in_process,
    _records,
    _vertex,
)
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)
from tfmtl.search import LocalBackend, SearchRunner


def test_local_backend_pins_each_child_to_its_own_gpu(tmp_path):
    """Issue #19: with several GPUs each concurrent child sees one GPU of
    its own (`CUDA_VISIBLE_DEVICES`); the scores are the children's."""
    calls = tmp_path / "calls.jsonl"
    evaluator = _evaluator(tmp_path, calls, sleep=1.0)
    backend = LocalBackend(evaluator, max_jobs=2, devices=["3", "5"])
    searcher = PartitionRandomSearch(2, num_samples=4, batch_size=4, seed=2)
    summary = SearchRunner(searcher, backend, tmp_path, max_retries=0).run()
    records, events = _records(tmp_path)
    assert summary["num_evaluations"] == 4 and not summary["failed"]
    # Two at a time, each on its slot's GPU: 0 and 2 start on different
    # slots, and every child saw exactly one of the two GPUs.
    devices = {c["sample"]: c["device"] for c in _calls(calls)}
    assert sorted(devices) == ["0", "1", "2", "3"]
    assert set(devices.values()) == {"3", "5"}
    assert devices["0"] != devices["1"]
    for record in records:
        assert record["where"] == f"local GPU {devices[str(record['id'])]}"
        params = np.array(record["params"])
        assert record["score"] == pytest.approx(_in_process(0, params, 0, 0))
    assert [e["backend"] for e in events] == ["local"] * 4
    report = (tmp_path / "report.txt").read_text().splitlines()
    assert len(report) == 4 and "local GPU" in report[0]


def test_vertex_specs_are_custom_jobs_with_container_paths():
    """Every job the vertex backend builds is a CustomJob: the child's own
    command, its paths on the /gcs mount, outputs under gs://, batches run
    by run_batch, Spot scheduling from the settings."""
    from google.cloud.aiplatform_v1.types import custom_job

    from tfmtl import vertex_job

    settings = {**SETTINGS, "spot": True, "accelerator_type": "NVIDIA_L4"}
    backend = _vertex(
        "/runs/es",
        "/runs/calls.jsonl",
        client=None,
        output_dir="gs://bucket/es",
        job_settings=settings,
        path_map={"/runs": "gs://bucket/es/files"},
    )
    specs = [_spec(i) for i in range(3)]
    job, batch, jobs_uri = backend.build_job(specs[:1], 2)
    again = custom_job.CustomJob.from_json(vertex_job.to_json(job))
    assert again == job and job.display_name == "tfmtl-0-a2"
    (pool,) = job.job_spec.worker_pool_specs
    container = pool.container_spec
    assert list(container.command) == ["python", "-m", "tests.search.toy_child"]
    assert list(container.args) == [
        "--calls=/gcs/bucket/es/files/calls.jsonl",
        "--sleep=0.0",
        "--partition_file=/gcs/bucket/es/samples/0/partition.json",
        "--result_file=/gcs/bucket/es/samples/0/result.json",
    ]
    assert batch is None
    base = job.job_spec.base_output_directory.output_uri_prefix
    assert base == jobs_uri == "gs://bucket/es/jobs/tfmtl-0-a2"
    assert job.job_spec.scheduling.strategy == (
        custom_job.Scheduling.Strategy.SPOT
    )
    assert pool.machine_spec.accelerator_count == 1
    job, batch, jobs_uri = backend.build_job(specs, 0)
    container = job.job_spec.worker_pool_specs[0].container_spec
    assert list(container.command) == ["python", "-m", "tfmtl.search.run_batch"]
    assert list(container.args) == [
        "--batch_file=/gcs/bucket/es/jobs/tfmtl-0-2-a0/batch.json"
    ]
    assert [b["result_file"] for b in batch] == [
        f"/gcs/bucket/es/samples/{i}/result.json" for i in range(3)
    ]


def _spec(i):
    from tfmtl.search import ChildSpec

    directory = f"/runs/es/samples/{i}"
    argv = [
        sys.executable,
        "-m",
        "tests.search.toy_child",
        "--calls=/runs/calls.jsonl",
        "--sleep=0.0",
        f"--partition_file={directory}/partition.json",
        f"--result_file={directory}/result.json",
    ]
    return ChildSpec(i, argv, directory, f"{directory}/result.json")


@pytest.mark.parametrize(
    "state, message, expected",
    [
        ("JOB_STATE_QUEUED", "", "running"),
        ("JOB_STATE_PENDING", "", "running"),
        ("JOB_STATE_RUNNING", "", "running"),
        ("JOB_STATE_SUCCEEDED", "", "succeeded"),
        ("JOB_STATE_FAILED", "The replica workerpool0-0 exited 1.", "failed"),
        ("JOB_STATE_FAILED", "Spot VM preempted.", "preempted"),
        ("JOB_STATE_CANCELLED", "", "failed"),
        ("JOB_STATE_EXPIRED", "", "failed"),
    ],
)
def test_poll_maps_the_job_states(state, message, expected):
    from google.cloud.aiplatform_v1.types import custom_job, job_state

    class Client:
        def get_custom_job(self, *, name):
            job = custom_job.CustomJob(name=name)
            job.state = job_state.JobState[state]
            job.error.message = message
            return job

    backend = _vertex("/d", "/c", client=Client(), output_dir="gs://b/x")
    assert backend.poll("projects/p/locations/l/customJobs/1")[0] == expected


def test_vertex_batches_run_several_evaluations_per_job(tmp_path):
    """`evals_per_job=3`: one job per three evaluations (run_batch), each
    result read back from its own result file."""
    calls = tmp_path / "calls.jsonl"
    client = FakeJobClient(tmp_path / "jobs")
    backend = _vertex(
        tmp_path / "s", calls, client, tmp_path / "b", evals_per_job=3
    )
    searcher = PartitionRandomSearch(2, num_samples=7, batch_size=7, seed=4)
    summary = SearchRunner(searcher, backend, tmp_path / "s").run()
    assert summary["num_evaluations"] == 7 and not summary["failed"]
    names = [j["display_name"] for j in client.launched()]
    assert names == ["tfmtl-0-2-a0", "tfmtl-3-5-a0", "tfmtl-6-a0"]
    records, events = _records(tmp_path / "s")
    assert [e["ids"] for e in events] == [[0, 1, 2], [3, 4, 5], [6]]
    for record in records:
        params = np.array(record["params"])
        assert record["score"] == pytest.approx(_in_process(0, params, 0, 0))


def test_preemptions_are_retried_beyond_max_retries_failures_are_not(
    tmp_path,
):
    """With `max_retries=0` a child that fails is logged failed (score
    `worst_score`) after one job, while a preempted job is submitted again
    (preemptions have their own budget)."""
    calls = tmp_path / "calls.jsonl"
    client = FakeJobClient(tmp_path / "jobs", preempt={"tfmtl-0-a0"})
    backend = _vertex(tmp_path / "s", calls, client, tmp_path / "b", fail="1")
    searcher = PartitionRandomSearch(2, num_samples=3, batch_size=3, seed=5)
    summary = SearchRunner(
        searcher, backend, tmp_path / "s", max_retries=0, worst_score=-7.0
    ).run()
    records, _ = _records(tmp_path / "s")
    by_id = {r["id"]: r for r in records}
    assert summary["failed"] == [1] and summary["retried"] == [0]
    assert by_id[0]["status"] == "ok" and by_id[0]["preemptions"] == 1
    assert by_id[1]["attempts"] == 1 and by_id[1]["score"] == -7.0
    assert "rc 1" in by_id[1]["errors"][0]
    names = sorted(j["display_name"] for j in client.launched())
    assert names == ["tfmtl-0-a0", "tfmtl-0-a1", "tfmtl-1-a0", "tfmtl-2-a0"]
