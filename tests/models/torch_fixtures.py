"""Shared helpers of the PyTorch interop tests (no torch needed).

`FIXTURES` holds the files `scripts/make_torch_fixtures.py` wrote with torch;
`script()` imports that script for its numpy-only `fill_state_dict` and
`input_images`. `torch_python()` is an interpreter with torch and
torchvision for the `interop` tests: `$TFMTL_TORCH_PYTHON`, else None.
"""

import functools
import importlib.util
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "torch"


@functools.cache
def script():
    """The module `scripts/make_torch_fixtures.py`."""
    path = ROOT / "scripts" / "make_torch_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_torch_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_python():
    """An interpreter with torch and torchvision, or skip the test."""
    python = os.environ.get("TFMTL_TORCH_PYTHON")
    if not python:
        pytest.skip("interop: set TFMTL_TORCH_PYTHON to a python with torch")
    return python


def run_script(out, *args):
    """Runs `make_torch_fixtures.py` under `torch_python()` into `out`."""
    subprocess.run(
        [torch_python(), str(ROOT / "scripts" / "make_torch_fixtures.py")]
        + ["--out", str(out), *args],
        check=True,
    )


def run_torch(code, *args):
    """Runs Python `code` (torch and torchvision importable, `sys.argv[1:]`
    = `args`) under `torch_python()`."""
    prelude = (
        "import sys, torch\n"
        "try:\n"
        "    import torchvision\n"
        "except RuntimeError:\n"
        "    for m in [m for m in sys.modules if 'torchvision' in m]:\n"
        "        del sys.modules[m]\n"
        "    torch.library.register_fake = lambda *a, **k: lambda f: f\n"
        "    import torchvision\n"
    )
    subprocess.run(
        [torch_python(), "-c", prelude + code, *map(str, args)], check=True
    )
