"""`python -m tfmtl <command> [flags]`: the `tfmtl` command (`tfmtl.cli`)."""

from tfmtl import cli

if __name__ == "__main__":
    cli.main()
