"""Issue #17 items 5-7: bad command-line input is one line and exit 2.

Each case runs `python -m tfmtl.train` as a user would, from outside the
repository, and checks the whole of stderr: the one `tfmtl.train: error:`
line, no traceback, exit status 2.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tfmtl.testing import write_nyuv2_layout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ROOT = os.path.abspath(ROOT)


def _train(cwd, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "tfmtl.train", "--mode=train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stderr


def _smoke(tmp_path, *args):
    model_dir = f"--gin.MODEL_DIR='{tmp_path / 'run'}'"
    return _train(tmp_path, "--gin_file=smoke.gin", model_dir, *args)


def _error(prog_line):
    return f"tfmtl.train: error: ConfigError: {prog_line}"


@pytest.mark.parametrize(
    "arg, line",
    [
        # A typo'd macro used to train for the default number of steps.
        (
            "--gin.TRAIN_STEP=2",
            "unknown macro TRAIN_STEP; did you mean TRAIN_STEPS?",
        ),
        # A string where an int goes: `TypeError: '<' not supported`.
        (
            "--gin.TRAIN_STEPS='10'",
            "TRAIN_STEPS must be a positive int, got '10' (str); e.g. "
            "--gin.TRAIN_STEPS=10",
        ),
        (
            "--gin.GLOBAL_BATCH_SIZE=0",
            "GLOBAL_BATCH_SIZE must be a positive int, got 0 (int)",
        ),
        # An unquoted path: gin's `SyntaxError: Unable to parse value.`
        (
            "--gin.MODEL_DIR=/tmp/x",
            "cannot parse MODEL_DIR = /tmp/x; strings need quotes: "
            "--gin.MODEL_DIR=\"'/tmp/x'\"",
        ),
        (
            "--gin.TASK_NAMES=[depth, normals]",
            "cannot parse TASK_NAMES = [depth, normals]; strings need "
            "quotes: --gin.TASK_NAMES=\"['depth', 'normals']\"",
        ),
        # A path that is not a string.
        (
            "--gin.MODEL_DIR=7",
            "MODEL_DIR must be a path (a quoted string), got 7 (int); e.g. "
            "--gin.MODEL_DIR=\"'7'\"",
        ),
        # A parameter typo of a real configurable: the closest name.
        (
            "--gin_bindings=data.SyntheticScenes.num_trian = 8",
            "data.SyntheticScenes has no parameter num_trian; did you mean "
            "num_train?",
        ),
    ],
)
def test_bad_binding_is_one_line(tmp_path, arg, line):
    returncode, err = _smoke(tmp_path, arg)
    assert (returncode, err.splitlines()) == (2, [_error(line)]), err[-3000:]
    assert not (tmp_path / "run").exists()  # Refused before any work.


def test_string_weighting_lists_the_known_weightings(tmp_path):
    # Was `TypeError: 'str' object is not callable` from the builder.
    returncode, err = _smoke(tmp_path, "--gin.WEIGHTING='uw'")
    assert returncode == 2 and len(err.splitlines()) == 1, err[-3000:]
    from tfmtl import weighting

    assert err.startswith(
        _error(
            "WEIGHTING is the string 'uw', but weightings are gin references;"
            " e.g. WEIGHTING = @weighting.UncertaintyWeighting in a gin file"
        )
    )
    known = err.split("known weightings: ")[1].rstrip(".\n").split(", ")
    assert known == sorted(c.__name__ for c in weighting.ALL.values())


def test_macros_read_by_the_config_still_bind(tmp_path):
    # A macro defined on the command line and read by another command-line
    # binding is used; so are real configurables' parameters.
    returncode, err = _smoke(
        tmp_path,
        "--gin.STEPS=1",
        "--gin_bindings=TRAIN_STEPS = %STEPS",
        "--gin_bindings=data.SyntheticScenes.num_train = 16",
        "--gin.CHECKPOINT_EVERY=1",
    )
    assert returncode == 0, err[-3000:]
    assert (tmp_path / "run" / "operative_config.gin").exists()
    operative = (tmp_path / "run" / "operative_config.gin").read_text()
    assert "num_train = 16" in operative and "STEPS = 1" in operative


def _nyuv2(root, n=4, size=8):
    rng = np.random.default_rng(0)
    examples = [
        {
            "img": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
            "seg": rng.integers(0, 40, (size, size, 1)).astype(np.uint8),
            "normal_mask": rng.integers(0, 255, (size, size, 3), np.uint8),
            "depth": rng.uniform(1, 3, (size, size)).astype(np.float32),
        }
        for _ in range(n)
    ]
    write_nyuv2_layout(root, examples, {"train": (0, n), "test": (0, n)})


_NYU_GIN = """
include 'gin_configs/runs/train.gin'
include 'gin_configs/backbones/small_resnet.gin'
include 'gin_configs/sharing/hard.gin'
from __gin__ import dynamic_registration
from tfmtl.data import nyuv2

DATA = @nyuv2.NYUv2()
nyuv2.NYUv2:
  data_dir = %NYU_DIR
  image_shape = (8, 8)
TASK_NAMES = ['segmentation', 'depth']
WIDTHS = (4, 4, 4, 4)
GLOBAL_BATCH_SIZE = 4
TRAIN_STEPS = 2
"""


def test_truncated_png_is_one_line_naming_the_file(tmp_path):
    # Was a 50-line `Invalid PNG data` traceback naming no file.
    data = tmp_path / "nyu"
    _nyuv2(data)
    bad = data / "img" / "0002.png"
    bad.write_bytes(bad.read_bytes()[:40])
    (tmp_path / "nyu.gin").write_text(_NYU_GIN)
    returncode, err = _train(
        tmp_path,
        "--gin_file=nyu.gin",
        f"--gin.MODEL_DIR='{tmp_path / 'run'}'",
        f"--gin.NYU_DIR='{data}'",
    )
    assert returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [x for x in err.splitlines() if x.startswith("tfmtl.train:")]
    assert errors == [err.splitlines()[-1]]
    assert errors[0] == (
        f"tfmtl.train: error: DataFileError: cannot read or decode data file "
        f"{bad} (missing, unreadable or corrupt); check the data set with "
        f"`python -m tfmtl.data.check_files --data_dir={data / 'img'}` (or "
        "its root) and re-download or re-extract the bad files"
    )
