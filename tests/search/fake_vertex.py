"""A Vertex AI `JobServiceClient` whose jobs run on this machine.

`create_custom_job` checks that the job is a real
`google.cloud.aiplatform_v1.types.CustomJob` that survives its JSON, then
runs the container command of its first worker pool as a local process
(`python` is the image's interpreter: `python=`); `get_custom_job` reports
its state from files under `root`, so a second client on the same `root` (a
restarted driver) sees the jobs of the first. `preempt` names display
names whose first job is reported FAILED with a Spot preemption message
instead of running; `kill_at` raises `DriverKilled` on that create call,
as if the driver died there.
"""

import json
import os
import subprocess
import sys

from google.cloud.aiplatform_v1.types import custom_job, job_state

from tfmtl import vertex_job

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PREEMPTED = "The Spot VM of the job was preempted."


class DriverKilled(BaseException):
    """The driver 'dies' (not an Exception: nothing in it catches this)."""


class FakeJobClient:
    def __init__(self, root, python=sys.executable, preempt=(), kill_at=None):
        self.root, self.python = str(root), python
        self.preempt, self.kill_at = set(preempt), kill_at
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
        number = len(self.launched()) + 1
        name = f"{parent}/customJobs/{number}"
        pool = custom_job.job_spec.worker_pool_specs[0]
        command = [*pool.container_spec.command, *pool.container_spec.args]
        preempted = custom_job.display_name in self.preempt and not any(
            j["display_name"] == custom_job.display_name
            for j in self.launched()
        )
        with open(os.path.join(self.root, "launched.jsonl"), "a") as f:
            f.write(
                json.dumps(
                    {
                        "name": name,
                        "display_name": custom_job.display_name,
                        "command": command,
                        "preempted": preempted,
                    }
                )
                + "\n"
            )
        if preempted:
            with open(self._path(name, ".rc"), "w") as f:
                f.write("preempted")
        else:
            if command[0] == "python":
                command[0] = self.python
            # The job outlives its driver: its exit status goes to a file.
            script = (
                "import subprocess, sys; "
                f"rc = subprocess.run({command!r}).returncode; "
                f"open({self._path(name, '.rc')!r}, 'w').write(str(rc))"
            )
            subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": ROOT},
                stdout=open(self._path(name, ".log"), "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.created.append(custom_job)
        created = custom_job_type()(custom_job)
        created.name = name
        return created

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
