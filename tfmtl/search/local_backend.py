"""The `local` backend: child processes on this machine, one GPU each."""

import os
import subprocess
import time


def visible_gpus(environ=None):
    """GPU ids this process may hand out (`CUDA_VISIBLE_DEVICES`, then
    `nvidia-smi -L`); [] without GPUs. Imports no TensorFlow."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [x for x in out.stdout.splitlines() if x.startswith("GPU ")]
    return [str(i) for i in range(len(lines))] if out.returncode == 0 else []


class LocalBackend:
    """Runs each evaluation as a child process of the driver.

    Slot `s` of `max_jobs` pins its child to GPU `devices[s % len(devices)]`
    through `CUDA_VISIBLE_DEVICES` when there are several GPUs (one GPU, or
    none: children see what the driver sees). A killed driver's children
    cannot be re-attached: a restarted driver runs their evaluations again
    (training children resume from their checkpoints).

    Args:
        evaluator: A `SubprocessEvaluator` (gives each evaluation's spec).
        max_jobs: Children at once.
        devices: GPU ids (default: `visible_gpus()`).

    Example:
    ```python
    backend = LocalBackend(SubprocessEvaluator(cmd, d, prepare), max_jobs=4)
    SearchRunner(searcher, backend, d).run()
    ```
    """

    kind = "local"
    evals_per_job = 1
    poll_seconds = 0.2

    def __init__(self, evaluator, max_jobs=1, devices=None):
        self.evaluator = evaluator
        self.max_jobs = int(max_jobs)
        if self.max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs}.")
        self.devices = visible_gpus() if devices is None else list(devices)
        self._jobs = {}  # handle -> (Popen, log file, slot, spec, started)

    def _free_slot(self):
        used = {job[2] for job in self._jobs.values()}
        return min(s for s in range(self.max_jobs + 1) if s not in used)

    def where(self, handle):
        """Where the job `handle` runs, for the final report."""
        slot = int(handle.rsplit("/", 2)[1])
        if len(self.devices) > 1:
            return f"local GPU {self.devices[slot % len(self.devices)]}"
        return "local"

    def describe(self, specs):
        """One line per child, for the dry run."""
        lines = [f"child {s.sample_id}: {' '.join(s.argv)}" for s in specs]
        return lines, 1 if self.devices else 0

    def submit(self, specs, attempt, request=None):
        """Starts the child of `specs` (one); returns its handle."""
        del request
        (spec,) = specs
        slot = self._free_slot()
        env = dict(os.environ, TFMTL_SAMPLE_DIR=spec.directory)
        if len(self.devices) > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(
                self.devices[slot % len(self.devices)]
            )
        log_path = os.path.join(spec.directory, f"log-{attempt}.txt")
        log = open(log_path, "w")  # noqa: SIM115 - closed in poll
        process = subprocess.Popen(
            spec.argv, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        handle = f"local/{slot}/{process.pid}"
        self._jobs[handle] = (process, log, slot, spec, time.time())
        return handle

    def find(self, request):
        """Local children of an earlier driver cannot be found again."""
        del request

    def attach(self, handle):
        """Local children of an earlier driver cannot be re-attached."""
        del handle
        return False

    def poll(self, handle):
        """`("running"|"succeeded"|"failed", message)` of a child."""
        process, log, _, spec, started = self._jobs[handle]
        timeout = self.evaluator.timeout
        if process.poll() is None:
            if timeout is None or time.time() - started < timeout:
                return "running", ""
            process.kill()
            process.wait()
        log.close()
        del self._jobs[handle]
        rc = process.returncode
        if rc == 0 and os.path.exists(spec.result_file):
            return "succeeded", ""
        with open(log.name) as f:
            tail = f.read()[-400:]
        return "failed", f"child exited with {rc}; see {log.name}: {tail}"

    def result(self, spec):
        """The score of a finished child (raises when it wrote none)."""
        return self.evaluator.finish(spec)

    def close(self):
        """Kills children still running (the driver is giving up)."""
        for process, log, *_ in self._jobs.values():
            process.kill()
            process.wait()
            log.close()
        self._jobs.clear()
