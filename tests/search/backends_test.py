"""tfmtl.search backends: local GPUs per child, Vertex AI jobs (faked).

The children are `toy_child` processes (no TensorFlow); the Vertex AI
client is `FakeJobClient`, whose jobs run their container command here.
"""

import json
import os
import sys

import numpy as np
import pytest

from tests.search import toy_child
from tests.search.fake_vertex import DriverKilled, FakeJobClient
from tfmtl.methods.feature_partitioning.partition import Partition
from tfmtl.methods.feature_partitioning.partition_candidate import (
    PartitionCandidate,
)
from tfmtl.methods.feature_partitioning.partition_es import PartitionES
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)
from tfmtl.search import (
    LocalBackend,
    SearchRunner,
    SubprocessEvaluator,
    VertexBackend,
)
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


def test_es_on_vertex_survives_a_preemption_and_a_killed_driver(tmp_path):
    """Issue #19 item 4: a small ES search whose evaluations are (fake)
    Vertex AI jobs running the spec's own container command. Job 3's first
    run is preempted (retried once), the driver dies at its 7th submission
    with jobs running and is restarted: it re-attaches to them, resubmits
    nothing that finished, and ends in the state of an uninterrupted
    in-process search (same ES mean theta)."""
    search_dir, out = tmp_path / "es", tmp_path / "bucket"
    calls, jobs = tmp_path / "calls.jsonl", tmp_path / "jobs"
    first = FakeJobClient(jobs, preempt={"tfmtl-3-a0"}, kill_at=7)
    backend = _vertex(search_dir, calls, first, out, max_jobs=3)
    with pytest.raises(DriverKilled):
        SearchRunner(_es(), backend, search_dir).run()
    _, events = _records(search_dir)
    assert len(events) == 6  # journaled before the kill
    second = FakeJobClient(jobs)
    backend = _vertex(search_dir, calls, second, out, max_jobs=3)
    searcher = _es()
    summary = SearchRunner(searcher, backend, search_dir).run()
    records, events = _records(search_dir)
    assert summary["num_evaluations"] == 16 and not summary["failed"]
    assert sorted(r["id"] for r in records) == list(range(16))
    # Each child ran once: none twice after the restart, the preempted
    # job's child never ran and its retry did.
    ran = sorted(int(c["sample"]) for c in _calls(calls))
    assert ran == list(range(16))
    launched = [j["display_name"] for j in second.launched()]
    assert sorted(launched) == sorted(
        [f"tfmtl-{i}-a0" for i in range(16)] + ["tfmtl-3-a1"]
    )
    by_id = {r["id"]: r for r in records}
    assert by_id[3]["attempts"] == 2 and by_id[3]["preemptions"] == 1
    assert "preempted" in by_id[3]["errors"][0]
    assert by_id[3]["where"].startswith("vertex projects/p/locations/")
    assert summary["retried"] == [3]
    # The restarted driver re-attached to the jobs in flight at the kill.
    assert len(second.created) == 16 + 1 - 6
    # Progress as TensorBoard scalars: never more than max_jobs=3 jobs
    # running, all 16 finished, best score so far = the summary's.
    scalars = _scalars(search_dir)
    assert max(scalars["jobs/running"]) == 3
    assert scalars["jobs/finished"][-1] == 16
    assert scalars["jobs/failed"][-1] == 0
    assert scalars["jobs/best_score"][-1] == pytest.approx(
        summary["best_score"]
    )
    (tail,) = [x for x in report_lines(search_dir) if x.split()[0] == "3"]
    assert "attempts 2 vertex projects/p/" in tail
    # The same search run in process: same proposals, same scores.
    reference = _es()
    SearchRunner(reference, _in_process, tmp_path / "ref", 2).run()
    np.testing.assert_allclose(searcher.theta, reference.theta)
    assert summary["best_score"] == pytest.approx(reference.best_score)


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


@pytest.mark.large
def test_a_driver_killed_with_sigkill_resubmits_nothing(tmp_path):
    """The driver process is killed (SIGKILL) once it has submitted jobs
    and rerun: the rerun re-attaches to the running jobs, runs each child
    once in all and reaches the uninterrupted in-process result."""
    import signal
    import subprocess
    import time

    from tests.search.fake_vertex import ROOT

    paths = [tmp_path / n for n in ("es", "jobs", "bucket", "calls.jsonl")]
    command = [sys.executable, "-m", "tests.search.toy_driver"]
    command += [str(p) for p in paths]
    env = {**os.environ, "PYTHONPATH": ROOT}
    driver = subprocess.Popen(command, cwd=ROOT, env=env)
    log = paths[0] / LOG_NAME
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        if log.exists() and log.read_text().count('"event": "job"') >= 5:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the driver ended before it was killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_at = len(FakeJobClient(paths[1]).launched())
    assert 5 <= killed_at < 16
    rerun = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    ran = sorted(int(c["sample"]) for c in _calls(paths[3]))
    assert ran == list(range(16))
    assert len(FakeJobClient(paths[1]).launched()) == 16
    reference = _es()
    SearchRunner(reference, _in_process, tmp_path / "ref", 2).run()
    best = json.loads(rerun.stdout.strip().splitlines()[-1])["best_score"]
    assert best == pytest.approx(reference.best_score)


def test_a_driver_killed_between_create_and_journal_finds_its_job(tmp_path):
    """The driver dies right after Vertex AI created a job, before the
    job's name reached the log: the restarted driver finds the job by its
    request label and re-attaches; the child runs once."""
    calls, jobs = tmp_path / "calls.jsonl", tmp_path / "jobs"
    first = FakeJobClient(jobs, kill_after=3)
    backend = _vertex(tmp_path / "s", calls, first, tmp_path / "b", max_jobs=2)

    def searcher():
        return PartitionRandomSearch(2, num_samples=4, batch_size=4, seed=6)

    with pytest.raises(DriverKilled):
        SearchRunner(searcher(), backend, tmp_path / "s").run()
    second = FakeJobClient(jobs)
    backend = _vertex(tmp_path / "s", calls, second, tmp_path / "b", max_jobs=2)
    summary = SearchRunner(searcher(), backend, tmp_path / "s").run()
    assert summary["num_evaluations"] == 4 and not summary["failed"]
    assert sorted(int(c["sample"]) for c in _calls(calls)) == [0, 1, 2, 3]
    names = [j["display_name"] for j in second.launched()]
    assert sorted(names) == [f"tfmtl-{i}-a0" for i in range(4)]
