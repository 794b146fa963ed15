"""Method-neutral outer loops: an ask/tell runner and child processes.

* `SearchRunner`: drives any ask/tell searcher with parallel workers,
  retries and a resumable JSON-lines log (`runner.py`).
* `SubprocessEvaluator`: scores one candidate by running a child command
  (`subprocess_evaluator.py`).
"""

from tfmtl.search.runner import LOG_NAME, SearchRunner, write_plot
from tfmtl.search.subprocess_evaluator import (
    ChildFailedError,
    SubprocessEvaluator,
)

__all__ = [
    "LOG_NAME",
    "ChildFailedError",
    "SearchRunner",
    "SubprocessEvaluator",
    "write_plot",
]
