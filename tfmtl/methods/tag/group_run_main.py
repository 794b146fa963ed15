"""One group (or HOA pair) run as a `SubprocessEvaluator` child.

    python -m tfmtl.methods.tag.group_run_main --run_dir=DIR \
        --result_file=FILE [train flags...]

Runs `python -m tfmtl train --mode=train_and_evaluate` with the remaining
flags (unless `DIR/eval_results.json` already exists), then writes
`{"score": -loss/total}` of `DIR/eval_results.json` to `FILE`, as the
search runner expects (higher is better).
"""

import argparse
import json
import os
import subprocess
import sys


def main(argv=None):
    """Runs the child on `argv` (default `sys.argv[1:]`); returns its rc."""
    parser = argparse.ArgumentParser(prog="tfmtl.methods.tag.group_run_main")
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--result_file", required=True)
    args, rest = parser.parse_known_args(argv)
    results = os.path.join(args.run_dir, "eval_results.json")
    if not os.path.exists(results):
        command = [sys.executable, "-m", "tfmtl", "train"]
        command += ["--mode=train_and_evaluate", *rest]
        rc = subprocess.run(command, check=False).returncode
        if rc:
            return rc
    with open(results) as f:
        values = json.load(f)["results"]
    with open(args.result_file, "w") as f:
        json.dump({"score": -float(values["loss/total"])}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
