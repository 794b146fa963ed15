"""TAG group and pair runs through tfmtl.search: resumable, plain MTL."""

import json
import os
import sys

import pytest

from tests.methods.tag.fake_runs import fake_best, fake_run
from tfmtl.methods.tag import groups

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


_FAKE_CHILD = """#!{python}
import json, os, sys
args = dict(a.split("=", 1) for a in sys.argv[1:] if a.startswith("--run_dir")
            or a.startswith("--result_file"))
with open({calls!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
os.makedirs(args["--run_dir"], exist_ok=True)
with open(os.path.join(args["--run_dir"], "eval_results.json"), "w") as f:
    json.dump({{"results": {{"loss/total": 2.0}}}}, f)
with open(args["--result_file"], "w") as f:
    json.dump({{"score": -2.0}}, f)
"""


def test_group_runs_go_through_the_search_runner_and_resume(tmp_path):
    """Issue #14/#15 item 17: group and HOA pair runs use tfmtl.search's
    SearchRunner + SubprocessEvaluator (resumable log), and train as plain
    MTL: the colab (google-research `tag/celeba/CelebA.ipynb`, `train`,
    method 'fast_mtl' = `train_fast_step`) evaluates groupings without the
    lookahead, so each child binds `AFFINITY_ENABLED = False`."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "fake_python"
    fake.write_text(_FAKE_CHILD.format(python=sys.executable, calls=str(calls)))
    fake.chmod(0o755)
    base = str(tmp_path / "hoa")
    runs = groups.pair_runs(["a", "b", "c"])

    def train():
        return groups.train(
            base,
            runs,
            ["x.gin"],
            ["AFFINITY_ENABLED = True"],
            "pair_runs",
            python=str(fake),
        )

    summary = train()
    assert summary["num_evaluations"] == 6 and summary["failed"] == []
    lines = [json.loads(x) for x in calls.read_text().splitlines()]
    assert len(lines) == 6
    for argv in lines:
        assert argv[:2] == ["-m", groups.GROUP_RUN]
        off = argv.index("--gin_bindings=AFFINITY_ENABLED = False")
        # The user's bindings come later and may turn the recorder back on.
        assert argv.index("--gin_bindings=AFFINITY_ENABLED = True") > off
    trained = {
        [a for a in argv if a.startswith("--gin_bindings=TASK_NAMES")][0]
        for argv in lines
    }
    assert len(trained) == 6
    log = os.path.join(base, "pair_runs", "search_log.jsonl")
    with open(log) as f:
        assert len(f.read().splitlines()) == 6
    train()  # Rerunning skips every finished run.
    assert len(calls.read_text().splitlines()) == 6
    with pytest.raises(ValueError, match="does not match"):
        groups.train(
            base, runs[::-1], ["x.gin"], [], "pair_runs", python=str(fake)
        )


def test_group_run_child_writes_the_runner_score(tmp_path):
    from tfmtl.methods.tag import group_run_main

    fake_run(tmp_path, ("a", "b"), {"loss/total": 1.25})
    result = tmp_path / "result.json"
    rc = group_run_main.main(
        [
            f"--run_dir={groups.run_dir(str(tmp_path), ('a', 'b'))}",
            f"--result_file={result}",
        ]
    )
    assert rc == 0 and json.loads(result.read_text()) == {"score": -1.25}
    # With RestoreBest the score is the validation at the best step.
    fake_best(
        tmp_path,
        ("c",),
        final={"loss/total": 9.0},
        best={"loss/total": 0.5},
        test={"loss/total": 7.0},
    )
    rc = group_run_main.main(
        [
            f"--run_dir={groups.run_dir(str(tmp_path), ('c',))}",
            f"--result_file={result}",
        ]
    )
    assert rc == 0 and json.loads(result.read_text()) == {"score": -0.5}
