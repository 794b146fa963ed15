r"""The `tfmtl` command and the console scripts of the six binaries.

`tfmtl <command> [flags]` (or `python -m tfmtl <command> [flags]`) runs one
binary of `COMMANDS`; `tfmtl-<command>` (setup.cfg) is the same. Flags and
conventions are those of `tfmtl.cli`.

TensorFlow's start-up banner: `tfmtl.cli` sets `TF_CPP_MIN_LOG_LEVEL=1`
unless the user set it, but TensorFlow 2.21 prints its oneDNN line (twice)
before it reads that setting, so these entry points import TensorFlow
through `import_tensorflow`, which drops the banner's INFO lines (or, with
`TF_CPP_MIN_LOG_LEVEL=0`, prints each once). `python -m
tfmtl.methods.<method>.main` imports its method package (and TensorFlow)
first, so there the banner still shows.
"""

import importlib
import os
import re
import sys
import tempfile

from tfmtl import cli

# `tfmtl <command>` and the console scripts: command -> binary module.
COMMANDS = {
    "train": "tfmtl.train",
    "adashare": "tfmtl.methods.adashare.main",
    "taps": "tfmtl.methods.taps.main",
    "feature-partitioning": "tfmtl.methods.feature_partitioning.main",
    "tag-groups": "tfmtl.methods.tag.groups",
    "select-groups": "tfmtl.methods.tag.select_main",
}

# What TensorFlow prints while it is imported: the banner.
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
    `TF_CPP_MIN_LOG_LEVEL` is 1 or more (the default set here), else each
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


def _entry(command, tensorflow=True):
    def start():
        cli.MAIN_MODULE = COMMANDS[command]
        if tensorflow:
            import_tensorflow()
        importlib.import_module(cli.MAIN_MODULE).main()

    start.__name__ = start.__qualname__ = command.replace("-", "_")
    start.__doc__ = f"Console script of `{COMMANDS[command]}`."
    return start


train = _entry("train")
adashare = _entry("adashare")
taps = _entry("taps")
feature_partitioning = _entry("feature-partitioning")
tag_groups = _entry("tag-groups", tensorflow=False)
select_groups = _entry("select-groups", tensorflow=False)


def main(argv=None):
    """`tfmtl <command> [flags]`: runs one of `COMMANDS`."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__.split("\n")[0], file=sys.stderr)
        print(f"usage: tfmtl {{{','.join(COMMANDS)}}} [flags]", file=sys.stderr)
        print("  (each command accepts --helpshort)", file=sys.stderr)
        sys.exit(0 if argv[1:2] in (["--help"], ["--helpshort"]) else 2)
    sys.argv = [f"{argv[0]} {argv[1]}", *argv[2:]]
    globals()[argv[1].replace("-", "_")]()


if __name__ == "__main__":
    main()
