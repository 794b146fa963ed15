"""Runs a batch of child evaluations inside one Vertex AI job.

    python -m tfmtl.search.run_batch --batch_file=/gcs/BUCKET/.../batch.json

The batch file (written by `VertexBackend`) lists `{"argv": [...],
"result_file": ...}` entries. Each child runs in turn; one whose result file
exists already is skipped, so a job that Vertex AI restarts (a preempted
Spot VM) only runs what is left. Exits 1 when a child failed, after running
the others; the driver reads each child's result file on its own.
Paths are container paths (`/gcs/...`, the Cloud Storage FUSE mount).
"""

import argparse
import json
import os
import subprocess
import sys


def main(argv=None):
    """Runs the batch of `argv` (default `sys.argv[1:]`); returns its rc."""
    parser = argparse.ArgumentParser(prog="tfmtl.search.run_batch")
    parser.add_argument("--batch_file", required=True)
    args = parser.parse_args(argv)
    with open(args.batch_file) as f:
        batch = json.load(f)
    failed = 0
    for child in batch:
        if os.path.exists(child["result_file"]):
            continue
        command = list(child["argv"])
        if command[0] == "python":
            command[0] = sys.executable
        rc = subprocess.run(command, check=False).returncode
        if rc or not os.path.exists(child["result_file"]):
            print(f"run_batch: child failed ({rc}): {command}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
