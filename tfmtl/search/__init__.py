"""Method-neutral outer loops: an ask/tell runner and its backends.

* `SearchRunner`: drives any ask/tell searcher with parallel workers,
  retries and a resumable JSON-lines log (`runner.py`).
* `SubprocessEvaluator`: scores one candidate by running a child command
  (`subprocess_evaluator.py`); its `spec` is what the backends run.
* `LocalBackend` / `VertexBackend`: child processes on this machine (one GPU
  each) or Vertex AI custom jobs, driven by `JobDriver`; `backend_flags`
  gives every outer-loop binary `--backend=local|vertex`.
* `DryRun`: prints the jobs a loop would submit and their cost.
"""

from tfmtl.search.child_spec import ChildSpec
from tfmtl.search.dry_run import DryRun
from tfmtl.search.job_driver import JobDriver
from tfmtl.search.local_backend import LocalBackend
from tfmtl.search.plot import write_plot
from tfmtl.search.runner import LOG_NAME, SearchRunner
from tfmtl.search.subprocess_evaluator import (
    ChildFailedError,
    SubprocessEvaluator,
)
from tfmtl.search.vertex_backend import VertexBackend

__all__ = [
    "LOG_NAME",
    "ChildFailedError",
    "ChildSpec",
    "DryRun",
    "JobDriver",
    "LocalBackend",
    "SearchRunner",
    "SubprocessEvaluator",
    "VertexBackend",
    "write_plot",
]
