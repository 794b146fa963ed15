"""A data file that fails to read or decode is named in the error."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import file_errors, make_dataset
from tfmtl.data.check_files import check_tree
from tfmtl.data.file_errors import read_decoded
from tfmtl.data.nyuv2 import NYUv2, load_npy
from tfmtl.testing import write_nyuv2_layout

H, W = 4, 6


@pytest.fixture()
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    examples = [
        {
            "img": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            "seg": rng.integers(0, 40, (H, W, 1)).astype(np.uint8),
            "normal_mask": rng.integers(0, 255, (H, W, 3), np.uint8),
            "depth": rng.uniform(1, 3, (H, W)).astype(np.float32),
        }
        for _ in range(4)
    ]
    return write_nyuv2_layout(
        tmp_path, examples, {"train": (0, 4), "test": (3, 4)}
    )


def _png(path):
    return lambda b: tf.io.decode_png(b, 3)


def test_good_files_decode_as_the_plain_decoder(data_dir):
    path = str(data_dir / "img" / "0001.png")
    expected = tf.io.decode_png(tf.io.read_file(path), 3)
    got = read_decoded(path, _png(path))
    np.testing.assert_array_equal(got, expected)
    depth = load_npy(str(data_dir / "depth" / "0001.npy"), np.float32)
    np.testing.assert_array_equal(depth, np.load(data_dir / "depth/0001.npy"))


def _truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


@pytest.mark.parametrize(
    "relative, size",
    [("img/0002.png", 40), ("seg/0001.png", 0), ("depth/0003.npy", 50)],
)
def test_corrupt_file_stops_the_pipeline_with_its_path(
    data_dir, relative, size
):
    source = NYUv2(str(data_dir), image_shape=(H, W))
    tasks = ["segmentation", "depth"]
    ds = make_dataset(source, "train", tasks, 1, shuffle=False, repeat=False)
    assert len(list(ds)) == 4
    _truncate(data_dir / relative, size)
    seen = 0
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        for _ in ds:
            seen += 1
    # Examples before the bad one came through; nothing was skipped.
    assert seen == int(relative[-5])
    assert file_errors.failed_path(info.value) == str(data_dir / relative)
    line = file_errors.describe(info.value)
    assert line.startswith(f"cannot read or decode data file {data_dir}")
    assert f"--data_dir={data_dir / relative.split('/')[0]}" in line


def test_missing_file_is_named_eagerly(tmp_path):
    path = str(tmp_path / "none.png")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        read_decoded(path, _png(path))
    assert file_errors.failed_path(info.value) == path


def test_other_errors_are_not_data_file_errors():
    assert file_errors.describe(ValueError("Invalid PNG data")) is None


def test_check_files_lists_every_bad_file(data_dir):
    _truncate(data_dir / "img" / "0002.png", 40)
    _truncate(data_dir / "depth" / "0000.npy", 10)
    checked, bad = check_tree(str(data_dir))
    assert checked == 16
    assert [p for p, _ in bad] == [
        str(data_dir / "depth" / "0000.npy"),
        str(data_dir / "img" / "0002.png"),
    ]


def test_check_files_command_as_the_error_suggests(data_dir):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    _truncate(data_dir / "img" / "0002.png", 40)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.data.check_files",
            f"--data_dir={data_dir}",
        ],
        cwd=data_dir,
        env=dict(os.environ, PYTHONPATH=os.path.abspath(root)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    bad = data_dir / "img" / "0002.png"
    assert proc.stdout.splitlines() == [
        f"bad: {bad}: InvalidArgumentError: Invalid PNG. Failed to "
        "initialize decoder.",
        "16 files checked, 1 bad.",
    ]
    assert proc.stderr.splitlines()[-1] == (
        "tfmtl.data.check_files: error: ValueError: 1 of 16 data files are "
        f"bad (first: {bad}); re-download or re-extract them."
    )
