"""A cheap child evaluation for the backend tests (no TensorFlow).

    python -m tests.search.toy_child --partition_file=F --result_file=R \
        --calls=CALLS [--sleep=S] [--fail=SAMPLE]

Reads the candidate partition `F` (written by `PartitionCandidate`), appends
`{"sample": <dir name>, "device": $CUDA_VISIBLE_DEVICES}` to `CALLS` and
writes the score of `score_of` to `R` (exits 1 instead for `SAMPLE`).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

TARGET = 0.3


def score_of(forward):
    """`-sum((forward - 0.3)^2)`: what the child scores a partition."""
    forward = np.asarray(forward, np.float64)
    return -float(np.sum((forward - TARGET) ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--partition_file", required=True)
    parser.add_argument("--result_file", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail", default=None, help="Sample that fails.")
    args = parser.parse_args(argv)
    with open(args.partition_file) as f:
        partition = json.load(f)
    sample = os.path.basename(os.path.dirname(args.partition_file))
    with open(args.calls, "a") as f:
        device = os.environ.get("CUDA_VISIBLE_DEVICES")
        f.write(json.dumps({"sample": sample, "device": device}) + "\n")
    time.sleep(args.sleep)
    if sample == args.fail:
        return 1
    with open(args.result_file, "w") as f:
        json.dump({"score": score_of(partition["forward"])}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
