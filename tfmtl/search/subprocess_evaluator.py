"""Scores search candidates in child processes (for `SearchRunner`).

Method-neutral: what a candidate is, and how a child reads it, is the
`prepare` callable's business (feature partitioning writes a partition file,
see `tfmtl.methods.feature_partitioning.partition_candidate`).
"""

import json
import os
import shutil
import subprocess

from tfmtl.search.child_spec import ChildSpec


class ChildFailedError(RuntimeError):
    """A child evaluation process exited with an error."""


class SubprocessEvaluator:
    """Scores a candidate by running a child command in its own process.

    Each evaluation gets the directory `<search_dir>/samples/<id>/`;
    `prepare(params, directory)` writes the candidate there and returns the
    child's extra arguments (e.g. `["--partition_file=..."]`). The child is
    `command + extra + ["--result_file=<directory>/result.json"]` and must
    write `{"score": ...}` to the result file (with an optional
    `task_scores` list, one per task, for multi-objective ES). Output goes to
    `samples/<id>/log-<attempt>.txt`. With `devices`, worker w sees only
    device `devices[w % len(devices)]` (`CUDA_VISIBLE_DEVICES`).

    Args:
        command: Argument list of the child (e.g. `python -m
            tfmtl.methods.feature_partitioning.main --mode=distill
            --gin_file=...`).
        search_dir: The search's directory.
        prepare: Callable `(params, directory) -> list of str`.
        devices: Optional list of device ids, one per worker slot.
        timeout: Seconds before a child is killed (None: no limit).
        cleanup: Remove a finished child's directory except its result.
        outputs: Optional callable `params -> list of paths`: files the
            child writes outside its directory that a remote backend copies
            back (see `ChildSpec.outputs`).

    Besides being called (one evaluation in this process's thread), it
    hands the backends of `tfmtl.search` each evaluation's `spec`.
    """

    def __init__(
        self,
        command,
        search_dir,
        prepare,
        devices=None,
        timeout=None,
        cleanup=False,
        outputs=None,
    ):
        self.command = list(command)
        self.search_dir, self.prepare = str(search_dir), prepare
        self.devices = list(devices or [])
        self.timeout, self.cleanup = timeout, cleanup
        self.outputs = outputs

    def spec(self, sample_id, params):
        """Writes the candidate's files; returns the child's `ChildSpec`."""
        directory = os.path.join(self.search_dir, "samples", str(sample_id))
        os.makedirs(directory, exist_ok=True)
        result_file = os.path.join(directory, "result.json")
        extra = list(self.prepare(params, directory))
        if os.path.exists(result_file):
            os.remove(result_file)
        outputs = list(self.outputs(params)) if self.outputs else []
        argv = self.command + extra + [f"--result_file={result_file}"]
        return ChildSpec(sample_id, argv, directory, result_file, outputs)

    def finish(self, spec):
        """Reads a finished child's score; cleans up when asked to."""
        score = read_score(spec.result_file)
        if self.cleanup:
            for name in os.listdir(spec.directory):
                path = os.path.join(spec.directory, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
        return score

    def __call__(self, sample_id, params, attempt, worker):
        spec = self.spec(sample_id, params)
        directory, result_file = spec.directory, spec.result_file
        env = dict(os.environ)
        if self.devices:
            env["CUDA_VISIBLE_DEVICES"] = str(
                self.devices[worker % len(self.devices)]
            )
        env["TFMTL_SAMPLE_DIR"] = directory
        log_path = os.path.join(directory, f"log-{attempt}.txt")
        with open(log_path, "w") as log:
            try:
                rc = subprocess.run(
                    spec.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=self.timeout,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        if rc != 0 or not os.path.exists(result_file):
            with open(log_path) as f:
                tail = f.read()[-400:]
            raise ChildFailedError(
                f"child exited with {rc}; see {log_path}: {tail}"
            )
        return self.finish(spec)


def read_score(path):
    """`{"score", "task_scores"?}` of a child's result file."""
    with open(path) as f:
        result = json.load(f)
    score = {"score": float(result["score"])}
    if result.get("task_scores") is not None:
        score["task_scores"] = [float(v) for v in result["task_scores"]]
    return score
