"""A driver process for the kill -9 test: the small ES of `backends_test`
on `FakeJobClient` jobs.

    python -m tests.search.toy_driver SEARCH_DIR JOBS_DIR BUCKET CALLS
"""

import json
import sys

from tests.search.fake_vertex import FakeJobClient
from tests.search.search_helpers import _es, _vertex
from tfmtl.search import SearchRunner


def main(argv):
    search_dir, jobs, bucket, calls = argv
    # Children sleep so that the driver is killed with jobs running.
    backend = _vertex(
        search_dir, calls, FakeJobClient(jobs), bucket, max_jobs=3
    )
    backend.evaluator.command.append("--sleep=0.5")
    summary = SearchRunner(_es(), backend, search_dir).run()
    print(json.dumps({"best_score": summary["best_score"]}))


if __name__ == "__main__":
    main(sys.argv[1:])
