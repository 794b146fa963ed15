r"""The `tfmtl` command and the console scripts of the seven binaries.

`tfmtl <command> [flags]` (or `python -m tfmtl <command> [flags]`) runs one
binary of `COMMANDS`; `tfmtl-<command>` (setup.cfg) is the same. Flags and
conventions are those of `tfmtl.cli`.

TensorFlow's start-up banner: these entry points import TensorFlow
through `cli.import_tensorflow`, which prints the banner once at most;
`python -m tfmtl.<binary>` does the same from `tfmtl/__init__.py` (see
`tfmtl.quiet_import`).
"""

import importlib
import sys

from tfmtl import cli

# `tfmtl <command>` and the console scripts: command -> binary module.
COMMANDS = {
    "train": "tfmtl.train",
    "adashare": "tfmtl.methods.adashare.main",
    "taps": "tfmtl.methods.taps.main",
    "feature-partitioning": "tfmtl.methods.feature_partitioning.main",
    "tag-groups": "tfmtl.methods.tag.groups",
    "select-groups": "tfmtl.methods.tag.select_main",
    "convert": "tfmtl.convert",
}


def _entry(command, tensorflow=True):
    def start():
        cli.MAIN_MODULE = COMMANDS[command]
        if tensorflow:
            cli.import_tensorflow()
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
convert = _entry("convert")


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
