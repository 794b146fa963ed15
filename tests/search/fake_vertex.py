"""A Vertex AI `JobServiceClient` whose jobs run on this machine.

`create_custom_job` checks that the job is a real
`google.cloud.aiplatform_v1.types.CustomJob` that survives its JSON, then
runs the container command of its first worker pool as a local process
(`python` is the image's interpreter: `python=`); `get_custom_job` reports
its state from files under `root`, so a second client on the same `root` (a
restarted driver) sees the jobs of the first. `preempt` names display
names whose first job is reported FAILED with a Spot preemption message
instead of running; `kill_at` raises `DriverKilled` on that create call,
as if the driver died there; `kill_after` raises it once the job of that
call is created, before the driver hears of it.
"""

import json
import os
import subprocess
import sys
import time
import uuid

from google.cloud.aiplatform_v1.types import custom_job, job_state

from tfmtl import vertex_job

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PREEMPTED = "The Spot VM of the job was preempted."


class DriverKilled(BaseException):
    """The driver 'dies' (not an Exception: nothing in it catches this)."""


class FakeJobClient:
    def __init__(
        self,
        root,
        python=sys.executable,
        preempt=(),
        kill_at=None,
        kill_after=None,
    ):
        self.root, self.python = str(root), python
        self.preempt, self.kill_at = set(preempt), kill_at
        self.kill_after = kill_after
        self.created = []
        os.makedirs(self.root, exist_ok=True)

    def _path(self, name, suffix):
        return os.path.join(self.root, name.rsplit("/", 1)[-1] + suffix)

    def launched(self):
        """Every job created by any client on `root` (dicts, in order)."""
        path = os.path.join(self.root, "launched.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def create_custom_job(self, *, parent, custom_job):
        assert isinstance(custom_job, custom_job_type())
        again = custom_job_type().from_json(vertex_job.to_json(custom_job))
        assert again == custom_job
        if self.kill_at is not None and len(self.created) + 1 == self.kill_at:
            raise DriverKilled(f"driver killed at create {self.kill_at}")
        name = f"{parent}/customJobs/{uuid.uuid4().int % 10**12}"
        pool = custom_job.job_spec.worker_pool_specs[0]
        command = [*pool.container_spec.command, *pool.container_spec.args]
        preempted = custom_job.display_name in self.preempt and not any(
            j["display_name"] == custom_job.display_name
            for j in self.launched()
        )
        record = {
            "name": name,
            "display_name": custom_job.display_name,
            "command": command,
            "preempted": preempted,
            "labels": dict(custom_job.labels),
        }
        launched = os.path.join(self.root, "launched.jsonl")
        line = json.dumps(record) + "\n"
        if preempted:
            with open(self._path(name, ".rc"), "w") as f:
                f.write("preempted")
            with open(launched, "a") as f:
                f.write(line)
        else:
            run = list(command)
            if run[0] == "python":
                run[0] = self.python
            # The job process records itself (creation is atomic, as on
            # Vertex AI: a driver killed now still finds it), runs the
            # command and outlives the driver; its exit status goes to a
            # file.
            script = (
                "import subprocess, sys; "
                f"open({launched!r}, 'a').write({line!r}); "
                f"rc = subprocess.run({run!r}).returncode; "
                f"open({self._path(name, '.rc')!r}, 'w').write(str(rc))"
            )
            process = subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": ROOT},
                stdout=open(self._path(name, ".log"), "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            # Returns once the job exists, as the API does.
            deadline = time.monotonic() + 60
            while not any(j["name"] == name for j in self.launched()):
                assert time.monotonic() < deadline, f"{name} never started"
                time.sleep(0.01)
            del process
        self.created.append(custom_job)
        if self.kill_after is not None and len(self.created) == self.kill_after:
            raise DriverKilled(f"driver killed after create {self.kill_after}")
        created = custom_job_type()(custom_job)
        created.name = name
        return created

    def list_custom_jobs(self, *, parent, filter):  # noqa: A002 - the API
        """The jobs whose labels match `labels.KEY="VALUE"`."""
        key, _, value = filter.removeprefix("labels.").partition("=")
        value = value.strip('"')
        return [
            custom_job_type()(name=j["name"])
            for j in self.launched()
            if j["name"].startswith(parent)
            and j.get("labels", {}).get(key) == value
        ]

    def get_custom_job(self, *, name):
        job = custom_job_type()(name=name)
        states = job_state.JobState
        path = self._path(name, ".rc")
        if not os.path.exists(path):
            job.state = states.JOB_STATE_RUNNING
            return job
        with open(path) as f:
            rc = f.read().strip()
        if rc == "0":
            job.state = states.JOB_STATE_SUCCEEDED
        elif rc:
            job.state = states.JOB_STATE_FAILED
            job.error.message = PREEMPTED if rc == "preempted" else f"rc {rc}"
        else:  # being written
            job.state = states.JOB_STATE_RUNNING
        return job


def custom_job_type():
    return custom_job.CustomJob
