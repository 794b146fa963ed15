r"""Outer loops of feature partitioning: distillation scoring and search.

Usage:
  # Score one partition by distillation (the "distillation test"):
  tfmtl-feature-partitioning --mode=distill \
      --gin_file=gin_configs/feature_partitioning/distill_synthetic.gin \
      --gin.MODEL_DIR="'/tmp/fp/distill'"
  # Search partitions with ES (or random / grid search), children in
  # parallel worker processes; rerun the same command to resume:
  tfmtl-feature-partitioning --mode=search \
      --gin_file=gin_configs/feature_partitioning/es_synthetic.gin \
      --gin.SEARCH_DIR="'/tmp/fp/es'"

(or `python -m tfmtl.methods.feature_partitioning.main ...`; `--job` is a
deprecated alias of `--mode`). The modes run `partition_jobs.distill` and
`partition_jobs.search`. `--mode=distill` scores the partition of
`--partition_file` (a JSON dict with "forward" and "backward", as the
search writes them) or the gin macro `PARTITION`, and writes
`{"score": ...}` to `--result_file`. `--mode=search` runs `search(...)`,
whose children are distillation processes with the gin files and bindings
of `CHILD_GIN_FILES` / `CHILD_BINDINGS`, run by `--backend=local|vertex`
(docs/vertex_outer_loops.md). Flags and error handling are those
of `tfmtl.cli`: bad input ends with one error line and exit status 2.
"""

import json

from absl import flags, logging

from tfmtl import cli
from tfmtl.search import backend_flags

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.feature_partitioning.main"
MODES = ("distill", "search")

cli.define_common(__name__)
cli.define_gin_flags(__name__)
cli.define_mode(__name__, MODES)
backend_flags.define(__name__)
cli.define(
    __name__, "string", "partition_file", None, "Partition to distil (JSON)."
)
cli.define(
    __name__,
    "string",
    "result_file",
    None,
    "Where --mode=distill writes JSON.",
)


def _run():
    import gin

    from tfmtl.methods.feature_partitioning import partition_jobs as jobs

    if not FLAGS.gin_file:
        raise ValueError("--gin_file is required.")
    mode = cli.check_mode(MODES)
    cli.parse_gin_flags()
    if mode == "distill":
        kwargs = {}
        if FLAGS.partition_file:
            kwargs["partition"] = FLAGS.partition_file
        if FLAGS.result_file:
            kwargs["result_file"] = FLAGS.result_file
        result = gin.get_configurable(jobs.distill)(**kwargs)
    else:
        backend = backend_flags.from_flags("tfmtl-fp-search")
        result = gin.get_configurable(jobs.search)(backend=backend)
    logging.info("Result: %s", result)
    print(json.dumps({"score": result.get("score", result.get("best_score"))}))


def _user_errors():
    from tfmtl.trainers.actions import TrainingDivergedError

    return (TrainingDivergedError,)


_main = cli.absl_main(_run, PROG, user_errors=_user_errors)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__, aliases={"job": "mode"})


if __name__ == "__main__":
    main()
