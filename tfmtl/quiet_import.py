"""Imports TensorFlow without repeating its start-up banner.

TensorFlow 2.21 prints its oneDNN line twice (and an `absl::InitializeLog`
warning) while it is imported, before it reads `TF_CPP_MIN_LOG_LEVEL`.
`import_tensorflow` captures the import's stderr and prints every other
line again. The binaries use it: `tfmtl.cli` for the console scripts and
`python -m tfmtl.train`, and `tfmtl/__init__.py` for `python -m
tfmtl.methods.<method>.main` (whose method package imports TensorFlow
before the binary's own code runs). This module imports nothing heavy.
"""

import os
import re
import sys
import tempfile

# What TensorFlow prints while it is imported: the banner (TensorFlow 2.21
# prints its oneDNN line twice, before it reads TF_CPP_MIN_LOG_LEVEL).
_BANNER = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog|"
    r"^To enable the following instructions|"
    r"^[IW]\d{4} [\d:. ]+\S+\] (oneDNN custom operations|This TensorFlow|"
    r"Unable to register|TF-TRT Warning)"
)


def import_tensorflow():
    """Imports TensorFlow, printing its start-up banner once at most.

    The import's stderr goes to a temporary file; afterwards every line is
    printed again except the banner's: its INFO lines are dropped when
    `TF_CPP_MIN_LOG_LEVEL` is 1 or more (the binaries' default), else each
    distinct banner line is printed once.
    """
    if "tensorflow" in sys.modules:
        return
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") not in ("", "0")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            seen = set()
            for line in captured.read().decode(errors="replace").splitlines():
                if _BANNER.match(line):
                    key = re.sub(r"^\S+ [\d:. ]+", "", line)
                    if quiet or "InitializeLog" in line or key in seen:
                        continue
                    seen.add(key)
                print(line, file=sys.stderr)


def started_as_binary(argv=None):
    """True when the interpreter was started as `python -m tfmtl[.<...>]`.

    Reads the interpreter's own options (those before the script or the
    `-m` module), so a script's `-m` argument does not count.
    """
    args = iter(list(sys.orig_argv if argv is None else argv)[1:])
    for arg in args:
        if arg == "-m":
            module = next(args, "")
            return module == "tfmtl" or module.startswith("tfmtl.")
        if arg in ("-W", "-X"):
            next(args, None)  # the option's value
        elif arg == "-c" or not arg.startswith("-"):
            return False  # a command or a script
    return False
