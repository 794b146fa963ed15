"""Every gin file parses; experiment files build a run on synthetic data."""

import glob
import os

import gin
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_FILES = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(
        os.path.join(ROOT, "gin_configs", "**", "*.gin"), recursive=True
    )
)


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    yield
    gin.clear_config()


def test_there_are_gin_files():
    assert "gin_configs/smoke.gin" in GIN_FILES
    assert "gin_configs/quickstart.gin" in GIN_FILES


@pytest.mark.parametrize("path", GIN_FILES)
def test_gin_file_parses(path):
    gin.parse_config_files_and_bindings(
        [os.path.join(ROOT, path)],
        ["MODEL_DIR = '/tmp/unused'"],
        finalize_config=False,
    )


@pytest.mark.parametrize(
    "path",
    [p for p in GIN_FILES if p.count("/") == 1 or "/experiments/" in p],
)
def test_experiment_files_start_with_their_command(path):
    with open(os.path.join(ROOT, path)) as f:
        head = f.read(2000)
    assert "# COMMAND: python -m tfmtl." in head, path
