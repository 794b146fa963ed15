"""Affinity files and the `tfmtl.methods.tag.select_main` binary."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfmtl.methods.tag import affinity_file, select_main

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
TASKS = ("s", "d", "n", "k", "t")
# Taskonomy TAG affinities from google-research tag/network_selection, rows =
# target; with budget 2 the published objective picks {s,d,n} and {k,t}.
MATRIX = [
    [11.999321, 0.115374, 0.048910, 0.004547, 0.008776],
    [0.413559, 7.327637, 0.291415, 0.013537, 0.073957],
    [0.139824, 0.220962, 1.070989, 0.010494, 0.076460],
    [0.021099, 0.013366, 0.010729, 0.733884, 0.689736],
    [0.056692, 0.036683, 0.036007, 0.303721, 5.966191],
]


def _binary(*args):
    env = dict(os.environ, PYTHONPATH=_REPO)
    return subprocess.run(
        [sys.executable, "-m", "tfmtl.methods.tag.select_main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_affinity_file_round_trip(tmp_path):
    path = tmp_path / "model" / "affinity.json"
    affinity_file.save_affinity(path, TASKS, np.array(MATRIX), steps=120)
    assert os.listdir(path.parent) == ["affinity.json"]  # No temp files.
    raw = json.loads(path.read_text())
    assert raw["orientation"] == (
        "A[target][source]: relative decrease of target's loss after a step "
        "on source"
    )
    assert raw["kind"] == "tag" and raw["steps"] == 120
    tasks, matrix, meta = affinity_file.load_affinity(path)
    assert tasks == TASKS
    np.testing.assert_array_equal(matrix, MATRIX)
    assert meta["kind"] == "tag" and meta["steps"] == 120


MALFORMED = [
    ({"tasks": ["a", "b"], "matrix": [[1, 2]]}, "2x2"),
    ({"tasks": ["a", "b"], "matrix": [[1, 2], [3]]}, "2x2"),
    ({"tasks": ["a"], "matrix": [[1, 2], [3, 4]]}, "1x1"),
    ({"tasks": ["a", "a"], "matrix": [[1, 2], [3, 4]]}, "unique"),
    ({"tasks": ["a", "b"], "matrix": [[1, "x"], [3, 4]]}, "numbers"),
    ({"tasks": ["a"], "matrix": [[float("nan")]]}, "NaN"),
    (
        {"tasks": ["a"], "matrix": [[1]], "orientation": "A[src][t]"},
        "orient",
    ),
    ({"tasks": ["a"], "matrix": [[1]], "kind": "mystery"}, "kind"),
    ({"matrix": [[1]]}, "tasks"),
]


def test_malformed_affinity_file_raises(tmp_path):
    path = tmp_path / "affinity.json"
    for content, message in MALFORMED:
        path.write_text(json.dumps(content))  # json writes NaN as NaN.
        with pytest.raises(ValueError, match=message):
            affinity_file.load_affinity(path)


def test_save_rejects_malformed_matrix(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        affinity_file.save_affinity(
            tmp_path / "a.json", "ab", [[0, 1], [np.nan, 0]]
        )
    with pytest.raises(ValueError, match="2x2"):
        affinity_file.save_affinity(tmp_path / "a.json", "ab", np.zeros((3, 3)))
    assert not os.listdir(tmp_path)


def test_binary_prints_and_writes_groups(tmp_path):
    path = tmp_path / "affinity.json"
    affinity_file.save_affinity(path, TASKS, MATRIX)
    result = _binary(f"--affinity={path}", "--budget=2")
    assert result.returncode == 0, result.stderr
    assert "group 1: s, d, n" in result.stdout
    assert "group 2: k, t" in result.stdout
    assert "  t <- group 2" in result.stdout
    written = json.loads((tmp_path / "groups.json").read_text())
    assert written["groups"] == [["s", "d", "n"], ["k", "t"]]
    assert written["serving"]["k"] == ["k", "t"]
    assert written["score"] == pytest.approx(0.3217, abs=5e-5)  # tag.md 3.4


BAD_ARGS = [
    (["--affinity={dir}/missing.json", "--budget=2"], "No such file"),
    (["--affinity={dir}/affinity.json", "--budget=0"], "--budget must"),
    (["--affinity={dir}/affinity.json", "--budget=6"], "--budget must"),
    (["--affinity={dir}/bad.json", "--budget=2"], "not valid JSON"),
    (["--budget=2"], "--affinity is required"),
]


def test_binary_bad_input_exits_2(tmp_path):
    affinity_file.save_affinity(tmp_path / "affinity.json", TASKS, MATRIX)
    (tmp_path / "bad.json").write_text("{not json")
    for args, message in BAD_ARGS:
        result = _binary(*(a.format(dir=tmp_path) for a in args))
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("tfmtl.methods.tag.select_main: error:")
        assert message in lines[0]


def test_binary_method_is_a_deprecated_alias_of_mode(tmp_path):
    path = tmp_path / "affinity.json"
    affinity_file.save_affinity(path, TASKS, MATRIX)
    new = _binary(f"--affinity={path}", "--budget=2", "--mode=cs")
    assert new.returncode == 0, new.stderr
    assert new.stderr == ""
    old = _binary(f"--affinity={path}", "--budget=2", "--method", "cs")
    assert old.returncode == 0, old.stderr
    assert old.stdout == new.stdout
    assert old.stderr.splitlines() == [
        "tfmtl.methods.tag.select_main: warning: --method is deprecated, "
        "use --mode"
    ]
    bad = _binary(f"--affinity={path}", "--budget=2", "--method=hoa")
    assert bad.returncode == 2
    assert "--mode=hoa does not fit a 'tag' file" in bad.stderr


def test_run_random_groups_is_seeded(tmp_path):
    path = tmp_path / "affinity.json"
    affinity_file.save_affinity(path, TASKS, MATRIX)
    out = tmp_path / "rg.json"
    report = select_main.run(str(path), 3, "rg", seed=4, output=str(out))
    first = json.loads(out.read_text())
    select_main.run(str(path), 3, "rg", seed=4, output=str(out))
    assert json.loads(out.read_text()) == first
    assert first["seed"] == 4 and len(first["groups"]) == 3
    assert sorted(t for g in first["groups"] for t in g) == sorted(TASKS)
    assert report.count("group ") >= 3


def test_run_rejects_hoa_method_on_affinity_file(tmp_path):
    path = tmp_path / "affinity.json"
    affinity_file.save_affinity(path, TASKS, MATRIX)
    with pytest.raises(ValueError, match="does not fit"):
        select_main.run(str(path), 2, "hoa")
