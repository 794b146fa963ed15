r"""Trains, evaluates or exports a multi-task model configured by gin.

Usage:
  python -m tfmtl.train --gin_file=gin_configs/quickstart.gin \
      --gin.MODEL_DIR="'/tmp/tfmtl/quickstart'" --mode=train_and_evaluate

Flags say how to run; gin files say what to run. `--gin.NAME=VALUE` is
shorthand for `--gin_bindings='NAME = VALUE'`. Bad input (a missing gin file,
an unknown binding, an unknown task, missing data) ends with one error line
and exit status 2; add `--traceback` to see the full trace.
"""

import ast
import os
import re
import sys

from absl import app, flags, logging

from tfmtl import experiment

FLAGS = flags.FLAGS
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_multi_string("gin_file", None, "Gin files, applied in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings (after files).")
flags.DEFINE_multi_string(
    "gin_search_paths", [".", _REPO_ROOT], "Where gin files are looked up."
)
flags.DEFINE_enum("mode", None, list(experiment.MODES), "What to run.")
flags.DEFINE_bool("traceback", False, "Show full tracebacks on errors.")

_MACRO = re.compile(r"^([A-Z][A-Z0-9_]*) = (.+)$")


def rewrite_gin_args(argv):
    """Turns `--gin.NAME=VALUE` into `--gin_bindings=NAME = VALUE`."""
    out = []
    for arg in argv:
        if arg.startswith("--gin."):
            name, _, value = arg[len("--gin.") :].partition("=")
            out.append(f"--gin_bindings={name} = {value}")
        else:
            out.append(arg)
    return out


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


def one_line(error):
    """A short single-line description of an exception."""
    text = " ".join(str(error).split())
    # gin appends where the configurable was called; the cause comes first.
    text = text.split(" In call to configurable")[0]
    if len(text) > 600:
        text = text[:600] + " ..."
    return f"{type(error).__name__}: {text}"


def parse_gin_flags():
    """Parses `--gin_file` / `--gin_bindings` with `--gin_search_paths`.

    Raises:
        FileNotFoundError: a gin file is in none of the search paths.
        ValueError: gin's own errors (unknown binding, missing REQUIRED...).
    """
    import gin

    for path in FLAGS.gin_search_paths:
        gin.add_config_file_search_path(path)
    for path in FLAGS.gin_file:
        if not any(
            os.path.exists(os.path.join(p, path))
            for p in ["", *FLAGS.gin_search_paths]
        ):
            raise FileNotFoundError(f"Gin file not found: {path}")
    gin.parse_config_files_and_bindings(
        FLAGS.gin_file, FLAGS.gin_bindings, finalize_config=True
    )


def _main(argv):
    import gin

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.gin_file:
        raise app.UsageError("--gin_file is required.")
    if FLAGS.mode is None:
        raise app.UsageError(
            "--mode is required: " + ", ".join(experiment.MODES)
        )
    try:
        parse_gin_flags()
        run = gin.get_configurable(experiment.run)
        config = gin.config_str()
        result = run(
            mode=FLAGS.mode, config_text=config, hparams=scalar_macros(config)
        )
        _write_operative_config(gin.operative_config_str())
    except Exception as error:  # noqa: BLE001 - one-line errors for users
        if FLAGS.traceback or not _is_user_error(error):
            raise
        print(f"tfmtl.train: error: {one_line(error)}", file=sys.stderr)
        print("  (rerun with --traceback for the full trace)", file=sys.stderr)
        sys.exit(2)
    logging.info("Result: %s", result)


def _is_user_error(error):
    from tfmtl.trainers.actions import TrainingDivergedError

    return isinstance(
        error, ValueError | OSError | KeyError | TrainingDivergedError
    )


def _write_operative_config(text):
    import gin  # noqa: F401

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


def main():
    app.run(
        _main,
        flags_parser=lambda argv: flags.FLAGS(rewrite_gin_args(argv)),
    )


if __name__ == "__main__":
    main()
