"""Shared test helper: `python -m <module> ...` in the repository root."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def run_module(*args, timeout=300):
    """Runs `python -m *args` from the repository root, without TF_CONFIG.

    Returns:
        The `subprocess.CompletedProcess` (text output captured).
    """
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
