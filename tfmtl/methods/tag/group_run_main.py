"""One group (or HOA pair) run as a `SubprocessEvaluator` child.

    python -m tfmtl.methods.tag.group_run_main --run_dir=DIR \
        --result_file=FILE [train flags...]

Runs `python -m tfmtl train --mode=train_and_evaluate` with the remaining
flags (unless the run already has results), then writes
`{"score": -loss/total}` of its validation results to `FILE`, as the search
runner expects (higher is better): those at the best step from
`DIR/best_results.json` when the run has `RestoreBest`, else the final
`DIR/eval_results.json`.
"""

import argparse
import json
import os
import subprocess
import sys

from tfmtl.trainers.restore_best import BEST_RESULTS


def main(argv=None):
    """Runs the child on `argv` (default `sys.argv[1:]`); returns its rc."""
    parser = argparse.ArgumentParser(prog="tfmtl.methods.tag.group_run_main")
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--result_file", required=True)
    args, rest = parser.parse_known_args(argv)
    best = os.path.join(args.run_dir, BEST_RESULTS)
    final = os.path.join(args.run_dir, "eval_results.json")
    if not (os.path.exists(best) or os.path.exists(final)):
        command = [sys.executable, "-m", "tfmtl", "train"]
        command += ["--mode=train_and_evaluate", *rest]
        rc = subprocess.run(command, check=False).returncode
        if rc:
            return rc
    if os.path.exists(best):
        with open(best) as f:
            values = json.load(f)["validation"]
    else:
        with open(final) as f:
            values = json.load(f)["results"]
    with open(args.result_file, "w") as f:
        json.dump({"score": -float(values["loss/total"])}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
