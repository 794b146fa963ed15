r"""Command-line plumbing shared by every tfmtl binary.

Every binary (`tfmtl.train`, `tfmtl.methods.adashare.main`,
`tfmtl.methods.taps.main`, `tfmtl.methods.feature_partitioning.main`,
`tfmtl.methods.tag.groups`, `tfmtl.methods.tag.select_main`) follows one
convention:

* flags are defined at module level (with `define`) and `main()` runs it;
* one verb flag, `--mode`; the old names (`--job`, `--phase`, `--action`,
  `--method`) still work and print one deprecation line;
* `--gin.NAME=VALUE` is shorthand for `--gin_bindings='NAME = VALUE'`;
* bad input (a bad flag, a missing file, an unknown gin binding...) ends with
  one `<binary>: error: ...` line and exit status 2; `--traceback` shows the
  full traceback instead. Gin input is checked before anything is built
  (`tfmtl.config_check`, `tfmtl.gin_errors`): a command-line macro that no
  binding reads, a string or non-positive number for steps or batch sizes,
  a non-string path, a string weighting, an unquoted string. A data file
  that fails to read or decode is named (`tfmtl.data.file_errors`);
* `--help` / `--helpshort` print the binary's docstring and flags, exit 0.

Gin files are looked up in the working directory, the repository root and
its `gin_configs/` directory, so `--gin_file=gin_configs/quickstart.gin` and
`--gin_file=quickstart.gin` both work from any directory.

Importing this module sets `TF_CPP_MIN_LOG_LEVEL=1` unless the user set it
(TensorFlow's INFO lines off, warnings on); `import_tensorflow` also drops
the banner TensorFlow prints before it reads that setting (the `tfmtl`
command and the console scripts use it; see `tfmtl.quiet_import`).
"""

import contextlib
import logging as std_logging
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags  # noqa: E402 - after the TensorFlow setting.

from tfmtl import quiet_import  # noqa: E402

import_tensorflow = quiet_import.import_tensorflow

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_CONFIGS = os.path.join(REPO_ROOT, "gin_configs")

# Errors of the user's input: one line and exit status 2, no traceback.
USER_ERRORS = (ValueError, OSError, KeyError, subprocess.CalledProcessError)

_HELP = ("--help", "--helpshort", "-?", "--helpfull")
MAIN_MODULE = None  # The binary a console script runs (for --help).
_warned = set()


def define(module, kind, name, default, help_text, **kwargs):
    """Defines `--name` for the binary `module` (its `__name__`).

    Several binaries may be imported in one process (tests do): a flag that
    exists already is reused, so binaries can share names such as
    `--mode` or `--model_dir` (each binary still validates its own values).

    Args:
        module: the defining binary's `__name__`.
        kind: absl's flag type, e.g. "string", "enum", "multi_string".
        name: flag name.
        default: default value.
        help_text: one-line help.
        **kwargs: more arguments of `flags.DEFINE_<kind>` (`enum_values`,
            `lower_bound`...).

    Returns:
        The flag's `FlagHolder`, or None when the flag existed already.
    """
    if name in FLAGS:
        if kind == "enum":
            # Each binary's choices stay accepted; `check_mode` narrows them.
            known = FLAGS[name].parser.enum_values
            known.extend(v for v in kwargs["enum_values"] if v not in known)
        return None
    if module in ("__main__", MAIN_MODULE):
        module = sys.argv[0]
    define_kind = getattr(flags, f"DEFINE_{kind}")
    return define_kind(
        name, default, help=help_text, module_name=module, **kwargs
    )


def define_common(module):
    """Defines `--traceback` for `module`."""
    define(module, "bool", "traceback", False, "Show full tracebacks.")


def define_gin_flags(module):
    """Defines `--gin_file`, `--gin_bindings` and `--gin_search_paths`."""
    define(module, "multi_string", "gin_file", [], "Gin files, in order.")
    define(module, "multi_string", "gin_bindings", [], "Gin bindings (last).")
    define(
        module,
        "multi_string",
        "gin_search_paths",
        [".", REPO_ROOT, GIN_CONFIGS],
        "Where gin files (and their includes) are looked up.",
    )
    unused = "Macros of --gin_bindings the config may not read (for tools)."
    define(module, "multi_string", "gin_unused_ok", [], unused)


def define_mode(module, modes, default=None, help_text="What to run."):
    """Defines the verb flag `--mode` with choices `modes`."""
    define(module, "enum", "mode", default, help_text, enum_values=modes)


def check_mode(modes, default=None):
    """Returns `--mode` (or `default`), raising ValueError unless in `modes`.

    `default` repeats the binary's default: where several binaries share
    one process, `--mode` carries the default of the first to define it.
    """
    mode = FLAGS.mode if FLAGS.mode is not None else default
    if mode is None:
        raise ValueError(f"--mode is required: {', '.join(modes)}.")
    if mode not in modes:
        raise ValueError(
            f"--mode must be one of {', '.join(modes)}, got {mode!r}."
        )
    return mode


def rewrite_args(argv, prog="tfmtl", aliases=None):
    """Rewrites `--gin.NAME=VALUE` and deprecated verb flags.

    Args:
        argv: the command line (argv[0] is the program).
        prog: name in the deprecation line.
        aliases: `{old flag name: new flag name}`, e.g. `{"job": "mode"}`.

    Returns:
        The new argument list.
    """
    aliases = aliases or {}
    out, args = [], list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            out += [arg, *args]
            break
        if arg.startswith("--gin."):
            name, _, value = arg[len("--gin.") :].partition("=")
            arg = f"--gin_bindings={name} = {value}"
        name, eq, value = arg[2:].partition("=")
        if arg.startswith("--") and name in aliases:
            _deprecated(prog, name, aliases[name])
            if not eq and args:
                value = args.pop(0)
            arg = f"--{aliases[name]}={value}"
        out.append(arg)
    return out


def _deprecated(prog, old, new):
    if old not in _warned:
        _warned.add(old)
        print(
            f"{prog}: warning: --{old} is deprecated, use --{new}",
            file=sys.stderr,
        )


def one_line(error):
    """A short single-line description of an exception."""
    text = " ".join(str(error).split())
    # gin appends where the configurable was called; the cause comes first.
    text = text.split(" In call to configurable")[0]
    if len(text) > 600:
        text = text[:600] + " ..."
    return f"{type(error).__name__}: {text}"


def user_error(prog, error):
    """Prints the line `prog: error: ...` and exits with status 2."""
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
    sys.exit(2)


def parse_gin_flags():
    """Parses `--gin_file` / `--gin_bindings` with `--gin_search_paths`.

    Then checks the configuration (`tfmtl.config_check`): a command-line
    macro no binding reads, a badly typed step, batch size, path or
    weighting, and gin's syntax errors are one-line `ConfigError`s.

    Raises:
        FileNotFoundError: a gin file is in none of the search paths.
        ValueError: gin's own errors (unknown binding, missing REQUIRED...)
            and `config_check.ConfigError`.
    """
    import gin

    for path in FLAGS.gin_search_paths:
        if path not in gin.config._LOCATION_PREFIXES:
            gin.add_config_file_search_path(path)
    files = FLAGS.gin_file or []
    for path in files:
        if not any(
            os.path.isfile(os.path.join(p, path))
            for p in ["", *FLAGS.gin_search_paths]
        ):
            raise FileNotFoundError(f"Gin file not found: {path}")
    from tfmtl import config_check, gin_errors

    bindings = FLAGS.gin_bindings
    try:
        with _quiet_gin_lookups(gin):
            gin.parse_config_files_and_bindings(
                files, bindings, finalize_config=False
            )
    except SyntaxError as error:
        raise gin_errors.explain_syntax_error(error, bindings) from None
    except ValueError as error:
        better = gin_errors.explain_gin_error(error)
        if better is None:
            raise
        raise better from None
    config_check.check_bindings(bindings, FLAGS.gin_unused_ok)
    config_check.check_values()
    gin.finalize()


@contextlib.contextmanager
def _quiet_gin_lookups(gin):
    """Silences gin's Python-package lookup of gin files on search paths.

    For each search path that lacks a file, gin (0.5.0) also asks Python for
    a package named like the file's directory: that logs `Path not found`
    lines for every include (and raises TypeError when `gin_configs/` is a
    namespace package on `sys.path`). Plain files are all tfmtl uses.
    """
    readers = gin.config._FILE_READERS
    saved = list(readers)

    def quiet(check):
        def exists(path):
            root = std_logging.getLogger()
            drop = _DropGinLookupLogs()
            root.addFilter(drop)
            try:
                return check(path)
            except (TypeError, ValueError, ImportError):
                return False
            finally:
                root.removeFilter(drop)

        return exists

    readers[:] = [
        (read, check if check is os.path.isfile else quiet(check))
        for read, check in saved
    ]
    try:
        yield
    finally:
        readers[:] = saved


class _DropGinLookupLogs(std_logging.Filter):
    def filter(self, record):
        return record.module != "resource_reader"


def _print_help(module_name, full=False):
    module = sys.modules.get(module_name) or sys.modules["__main__"]
    text = FLAGS.get_help() if full else FLAGS.module_help(sys.argv[0])
    try:
        print(module.__doc__ or f"USAGE: {sys.argv[0]} [flags]")
        if text:
            print("flags:\n" + text)
        print("\nTry --helpfull to get a list of all flags.")
    except BrokenPipeError:  # `... --helpshort | head`
        sys.stderr.close()


def absl_main(body, prog, user_errors=()):
    """The `main(argv)` of a binary: `body()` with tfmtl's error convention.

    Args:
        body: zero-argument callable doing the binary's work (flags parsed).
        prog: the binary's name in error lines, e.g. "tfmtl.train".
        user_errors: exception types reported as one line besides
            `USER_ERRORS`, or a callable returning them (to import lazily).

    Returns:
        A function of `argv` for `app.run`: extra arguments and user errors
        end with one `prog: error: ...` line and exit status 2 (unless
        `--traceback`); other errors propagate.
    """

    def main(argv):
        try:
            if len(argv) > 1:
                raise ValueError(f"Unexpected arguments: {argv[1:]}")
            return body()
        except Exception as error:  # noqa: BLE001 - one-line errors for users
            extra = user_errors() if callable(user_errors) else user_errors
            data_error = _data_file_error(error)
            if data_error is not None and not FLAGS.traceback:
                user_error(prog, data_error)
            if FLAGS.traceback or not isinstance(
                error, USER_ERRORS + tuple(extra)
            ):
                raise
            user_error(prog, error)

    return main


def _data_file_error(error):
    """A `DataFileError` for a data file that failed to read, or None."""
    if "cannot read or decode data file" not in str(error):
        return None
    from tfmtl.data import file_errors

    line = file_errors.describe(error)
    return None if line is None else file_errors.DataFileError(line)


def run(main, prog, module, aliases=None):
    """Parses `sys.argv` as tfmtl's binaries do and runs `main(argv)`.

    Args:
        main: the binary's `main(argv)`, usually from `absl_main`.
        prog: the binary's name in error and deprecation lines.
        module: the binary's `__name__` (for `--help`).
        aliases: deprecated flag names, `{old: new}`.
    """

    def parse(argv):
        argv = rewrite_args(argv, prog, aliases)
        if any(a in _HELP for a in argv[1:]):
            _print_help(module, full="--helpfull" in argv)
            sys.exit(0)
        try:
            return FLAGS(argv)
        except flags.Error as error:
            user_error(prog, error)

    app.run(main, flags_parser=parse)
