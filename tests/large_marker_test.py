"""The `large` tier: skipped unless pytest is given `--run_large`."""

import os
import pathlib
import subprocess
import sys

CONFTEST = pathlib.Path(__file__).with_name("conftest.py")

TESTS = """
import pytest


def test_fast():
    pass


@pytest.mark.large
def test_end_to_end():
    pass
"""


def _pytest(root, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-rs",
            "--strict-markers",
            *args,
            str(root),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_large_tests_run_only_with_run_large(tmp_path):
    # The real conftest in a directory of its own (its ini file stops
    # pytest from reading the repository's settings).
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = *_test.py\n")
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "tier_test.py").write_text(TESTS)

    fast = _pytest(tmp_path)
    assert "1 passed, 1 skipped" in fast
    assert "large test: run with --run_large" in fast

    assert "2 passed" in _pytest(tmp_path, "--run_large")
