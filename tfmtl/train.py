r"""Trains, evaluates or exports a multi-task model configured by gin.

Usage:
  tfmtl-train --gin_file=gin_configs/quickstart.gin \
      --gin.MODEL_DIR="'/tmp/tfmtl/quickstart'" --mode=train_and_evaluate

(or `python -m tfmtl.train ...`, `python -m tfmtl train ...`). Flags say how
to run; gin files say what to run. `--gin.NAME=VALUE` is shorthand for
`--gin_bindings='NAME = VALUE'`. Gin files are found from any working
directory (see `tfmtl.cli`). Bad input (a missing gin file, an unknown
binding, an unknown task, missing data) ends with one error line and exit
status 2; add `--traceback` to see the full trace.
"""

import ast
import os
import re

from absl import flags, logging

# `cli` first: TensorFlow is imported through it, banner printed once at
# most (a no-op when TensorFlow is already imported).
from tfmtl import cli

cli.import_tensorflow()

from tfmtl import experiment  # noqa: E402 - after the quiet import.

FLAGS = flags.FLAGS
PROG = "tfmtl.train"

cli.define_common(__name__)
cli.define_gin_flags(__name__)
cli.define_mode(__name__, list(experiment.MODES))
cli.define(
    __name__,
    "bool",
    "allow_untrained",
    False,
    "Let evaluate / export run without a checkpoint (random weights).",
)

_MACRO = re.compile(r"^([A-Z][A-Z0-9_]*) = (.+)$")

# Kept for callers of the former helpers of this module.
one_line = cli.one_line
parse_gin_flags = cli.parse_gin_flags


def rewrite_gin_args(argv):
    """Turns `--gin.NAME=VALUE` into `--gin_bindings=NAME = VALUE`."""
    return cli.rewrite_args(argv)


def scalar_macros(config_str):
    """Scalar gin macros (`NAME = value`) for TensorBoard's hparams."""
    macros = {}
    for line in config_str.splitlines():
        match = _MACRO.match(line.strip())
        if not match:
            continue
        try:
            value = ast.literal_eval(match.group(2))
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, bool | int | float | str):
            macros[match.group(1)] = value
    return macros


def _run():
    import gin

    if not FLAGS.gin_file:
        raise ValueError("--gin_file is required.")
    mode = cli.check_mode(experiment.MODES)
    cli.parse_gin_flags()
    run = gin.get_configurable(experiment.run)
    config = gin.config_str()
    from tfmtl.trainers import preemption

    try:
        result = run(
            mode=mode,
            config_text=config,
            hparams=scalar_macros(config),
            allow_untrained=FLAGS.allow_untrained,
        )
    except preemption.TrainingInterrupted as stop:
        _write_operative_config(gin.operative_config_str())
        logging.warning("%s", stop)
        # The exit status a preemption manager expects: the signal's.
        preemption.exit_by_signal(stop.signum)
        raise
    _write_operative_config(gin.operative_config_str())
    logging.info("Result: %s", result)


def user_errors():
    """Errors of `tfmtl.train` reported in one line (besides cli's)."""
    from tfmtl.trainers.actions import TrainingDivergedError

    return (TrainingDivergedError,)


def _write_operative_config(text):
    from tfmtl.trainers.distribute import ClusterInfo

    model_dir = _macro_model_dir()
    if model_dir and ClusterInfo.from_environment().is_chief:
        import tensorflow as tf

        tf.io.gfile.makedirs(model_dir)
        with tf.io.gfile.GFile(
            os.path.join(model_dir, "operative_config.gin"), "w"
        ) as f:
            f.write(text)


def _macro_model_dir():
    import gin

    try:
        model_dir = gin.query_parameter("MODEL_DIR/macro.value")
    except ValueError:
        model_dir = None
    return model_dir or os.environ.get("AIP_MODEL_DIR")


_main = cli.absl_main(_run, PROG, user_errors=user_errors)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__)


if __name__ == "__main__":
    main()
