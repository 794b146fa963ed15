"""One AdaShare retrain and test as a `SubprocessEvaluator` child.

    python -m tfmtl.methods.adashare.retrain_main --run_dir=DIR \
        --result_file=FILE [tfmtl.train flags...]

Runs the documented phases 4 and 5 of one sampled architecture with the
remaining flags (the benchmark file, `retrain.gin`, `POLICY_FILE`,
`MODEL_DIR = DIR`, `SEED`...): `python -m tfmtl train --mode=train`
(resuming from DIR's checkpoints), then `--mode=evaluate` with
`gin_configs/adashare/test.gin` appended (the whole `TEST_SPLIT`, as the
reference's `test.py`). It then writes `{"score": ...}` to FILE, as the
search runner expects (higher is better; see `best_of.score_of`).
"""

import argparse
import json
import subprocess
import sys

from tfmtl.methods.adashare.best_of import score_of

TEST_GIN = "gin_configs/adashare/test.gin"


def _gin_files_last(rest, extra_file):
    """`rest` with `--gin_file=extra_file` after its last `--gin_file`."""
    last = max(
        (i for i, a in enumerate(rest) if a.startswith("--gin_file")),
        default=-1,
    )
    return [*rest[: last + 1], f"--gin_file={extra_file}", *rest[last + 1 :]]


def main(argv=None):
    """Runs the child on `argv` (default `sys.argv[1:]`); returns its rc."""
    parser = argparse.ArgumentParser(prog="tfmtl.methods.adashare.retrain_main")
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--result_file", required=True)
    args, rest = parser.parse_known_args(argv)
    train = [sys.executable, "-m", "tfmtl", "train"]
    for mode, flags in (
        ("train", rest),
        ("evaluate", _gin_files_last(rest, TEST_GIN)),
    ):
        rc = subprocess.run(
            [*train, f"--mode={mode}", *flags], check=False
        ).returncode
        if rc:
            return rc
    with open(args.result_file, "w") as f:
        json.dump({"score": score_of(args.run_dir)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
