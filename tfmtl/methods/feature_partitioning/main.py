r"""Outer loops of feature partitioning: distillation scoring and search.

Usage:
  # Score one partition by distillation (the "distillation test"):
  python -m tfmtl.methods.feature_partitioning.main --job=distill \
      --gin_file=gin_configs/feature_partitioning/distill_synthetic.gin \
      --gin.MODEL_DIR="'/tmp/fp/distill'"
  # Search partitions with ES (or random / grid search), children in
  # parallel worker processes; rerun the same command to resume:
  python -m tfmtl.methods.feature_partitioning.main --job=search \
      --gin_file=gin_configs/feature_partitioning/es_synthetic.gin \
      --gin.SEARCH_DIR="'/tmp/fp/es'"

The jobs are `partition_jobs.distill` and `partition_jobs.search`.
`--job=distill` scores the partition of `--partition_file` (a JSON dict with
"forward" and "backward", as the search writes them) or the gin macro
`PARTITION`, and writes `{"score": ...}` to `--result_file`. `--job=search`
runs `search(...)`, whose children are `--job=distill` processes with the
gin files and bindings of `CHILD_GIN_FILES` / `CHILD_BINDINGS`. Flags and
error handling are those of `tfmtl.train`: bad input ends with one error line
and exit status 2.
"""

import json
import sys

from absl import app, flags, logging

from tfmtl import train as train_lib

FLAGS = flags.FLAGS

flags.DEFINE_enum("job", None, ["distill", "search"], "What to run.")
flags.DEFINE_string("partition_file", None, "Partition to distil (JSON).")
flags.DEFINE_string("result_file", None, "Where --job=distill writes JSON.")


def _main(argv):
    import gin

    from tfmtl.methods.feature_partitioning import partition_jobs as jobs

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.gin_file:
        raise app.UsageError("--gin_file is required.")
    if FLAGS.job is None:
        raise app.UsageError("--job is required: distill or search.")
    try:
        train_lib.parse_gin_flags()
        if FLAGS.job == "distill":
            kwargs = {}
            if FLAGS.partition_file:
                kwargs["partition"] = FLAGS.partition_file
            if FLAGS.result_file:
                kwargs["result_file"] = FLAGS.result_file
            result = gin.get_configurable(jobs.distill)(**kwargs)
        else:
            result = gin.get_configurable(jobs.search)()
    except Exception as error:  # noqa: BLE001 - one-line errors for users
        if FLAGS.traceback or not train_lib._is_user_error(error):
            raise
        print(
            "tfmtl.methods.feature_partitioning.main: error: "
            + train_lib.one_line(error),
            file=sys.stderr,
        )
        print("  (rerun with --traceback for the full trace)", file=sys.stderr)
        sys.exit(2)
    logging.info("Result: %s", result)
    print(json.dumps({"score": result.get("score", result.get("best_score"))}))


def main():
    app.run(
        _main,
        flags_parser=lambda argv: flags.FLAGS(train_lib.rewrite_gin_args(argv)),
    )


if __name__ == "__main__":
    main()
