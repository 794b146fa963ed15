"""A killed outer-loop driver resumes: nothing finished is resubmitted,
running Vertex AI jobs (faked) are re-attached, no child runs twice."""

import json
import os
import sys

import numpy as np
import pytest

from tests.search.fake_vertex import DriverKilled, FakeJobClient
from tests.search.search_helpers import (
    _calls,
    _es,
    _in_process,
    _records,
    _scalars,
    _vertex,
    report_lines,
)
from tfmtl.methods.feature_partitioning.partition_random_search import (
    PartitionRandomSearch,
)
from tfmtl.search import SearchRunner
from tfmtl.search.runner import LOG_NAME


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
