"""HOA's pair runs (TAG) through the local and the Vertex AI backends."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.search.fake_vertex import ROOT, DriverKilled, FakeJobClient
from tfmtl.methods.tag import groups
from tfmtl.search import backend_flags

TASKS = ["a", "b", "c"]
CELEBA = [
    "5_o_Clock_Shadow",
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Goatee",
    "Mustache",
    "No_Beard",
    "Rosy_Cheeks",
    "Wearing_Hat",
]

# The image's `python`: a fake group run. Task t of a run of `group` gets
# loss 1 + i(t) + 0.25 * sum(i(o) + 1 for the other tasks o).
_FAKE_PYTHON = """#!{python}
import ast, json, os, sys
args = sys.argv[1:]
assert args[:2] == ["-m", "tfmtl.methods.tag.group_run_main"], args
flags = dict(a.split("=", 1) for a in args[2:] if "=" in a)
names = [a.split("=", 2)[2] for a in args if "TASK_NAMES =" in a][-1]
group = ast.literal_eval(names.strip())
tasks = {tasks!r}
with open({calls!r}, "a") as f:
    f.write("+".join(group) + "\\n")
loss = {{
    f"loss/{{t}}": 1 + tasks.index(t)
    + 0.25 * sum(tasks.index(o) + 1 for o in group if o != t)
    for t in group
}}
loss["loss/total"] = sum(loss.values())
os.makedirs(flags["--run_dir"], exist_ok=True)
with open(os.path.join(flags["--run_dir"], "eval_results.json"), "w") as f:
    json.dump({{"results": loss}}, f)
with open(flags["--result_file"], "w") as f:
    json.dump({{"score": -loss["loss/total"]}}, f)
"""


def _expected_matrix():
    """HOA's A[target][source] of the fake losses, computed directly."""
    n = len(TASKS)
    matrix = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            matrix[i, j] = 1 + i + (0.25 * (j + 1) if j != i else 0.0)
    return matrix


def _fake_python(tmp_path):
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "python"
    fake.write_text(
        _FAKE_PYTHON.format(
            python=sys.executable, tasks=TASKS, calls=str(calls)
        )
    )
    fake.chmod(0o755)
    return str(fake), calls


def _vertex_factory(client, output_dir, prefix="tfmtl-hoa-pairs"):
    settings = {
        "project": "p",
        "region": "us-central1",
        "output_dir": str(output_dir),
        "job_settings": {"image_uri": "img:1", "spot": True},
        "name_prefix": prefix,
        "poll_seconds": 0.05,
    }

    def factory(evaluator, local_dir, num_workers=1, devices=None):
        return backend_flags.make_backend(
            evaluator,
            local_dir,
            vertex=settings,
            max_jobs=num_workers,
            devices=devices,
            client=client,
        )

    return factory


def _train(base, python, backend):
    return groups.train(
        str(base),
        groups.pair_runs(TASKS),
        ["x.gin"],
        [],
        "pair_runs",
        num_workers=2,
        python=python,
        backend=backend,
    )


def test_hoa_pairs_on_vertex_and_local_give_the_same_matrix(tmp_path):
    """Issue #19 item 4: the whole HOA loop (3 tasks: 3 single and 3 pair
    runs) on fake Vertex AI jobs, with one preempted job and the driver
    killed at its 4th submission and restarted, then on the local backend;
    both give HOA's matrix of the runs' losses (copied back from the
    runs' eval_results.json), and no run trains twice."""
    python, calls = _fake_python(tmp_path)
    jobs, bucket = tmp_path / "jobs", tmp_path / "bucket"
    base = tmp_path / "hoa"
    first = FakeJobClient(jobs, python, {"tfmtl-hoa-pairs-2-a0"}, kill_at=4)
    with pytest.raises(DriverKilled):
        _train(base, python, _vertex_factory(first, bucket))
    second = FakeJobClient(jobs, python)
    summary = _train(base, python, _vertex_factory(second, bucket))
    assert summary["num_evaluations"] == 6 and summary["retried"] == [2]
    trained = calls.read_text().split()
    assert sorted(trained) == sorted(
        "+".join(r) for r in groups.pair_runs(TASKS)
    )
    assert len(second.launched()) == 7  # 6 runs + the preempted one
    # The runs' model dirs are under the output dir; results came back.
    assert os.path.exists(bucket / "a+b" / "eval_results.json")
    vertex = np.array(groups.hoa_matrix(str(base), TASKS))
    np.testing.assert_allclose(vertex, _expected_matrix())
    where = summary["ran_where"]
    assert all(w.startswith("vertex projects/p/") for w in where.values())
    # The local backend runs the same loop: the same matrix.
    local_base = tmp_path / "local"
    local = backend_flags.make_backend
    summary = _train(
        local_base,
        python,
        lambda ev, d, n, dev: local(ev, d, max_jobs=n, devices=[]),
    )
    assert summary["ran_where"] == {i: "local" for i in range(6)}
    np.testing.assert_allclose(
        groups.hoa_matrix(str(local_base), TASKS), _expected_matrix()
    )
    assert len(calls.read_text().split()) == 12


def test_celeba_hoa_dry_run_prints_45_specs_that_parse(tmp_path):
    """Issue #19 'done when': `--dry_run` of the CelebA HOA loop (9 tasks)
    prints 45 job specs that parse as CustomJobs, and the cost estimate:
    45 x 63600 steps / 20 steps/s / 3600 = 39.75 hours on 1 L4 each."""
    from google.cloud.aiplatform_v1.types import custom_job

    base = tmp_path / "hoa"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.methods.tag.groups",
            "--mode=train_pairs",
            f"--tasks={','.join(CELEBA)}",
            f"--base_dir={base}",
            "--gin_file=gin_configs/tag/celeba_tag.gin",
            "--backend=vertex",
            "--dry_run",
            "--image_uri=img:1",
            "--staging_bucket=gs://bucket",
            "--machine_type=g2-standard-8",
            "--accelerator_type=NVIDIA_L4",
            "--spot",
            "--steps_per_run=63600",
            "--steps_per_second=20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    jobs = [custom_job.CustomJob.from_json(x) for x in lines if x[:1] == "{"]
    assert len(jobs) == 45
    runs = set()
    for job in jobs:
        (pool,) = job.job_spec.worker_pool_specs
        assert pool.machine_spec.machine_type == "g2-standard-8"
        container = pool.container_spec
        assert list(container.command) == [
            "python",
            "-m",
            "tfmtl.methods.tag.group_run_main",
        ]
        run_dir = container.args[0]
        assert run_dir.startswith("--run_dir=/gcs/bucket/tfmtl-hoa-pairs/")
        runs.add(run_dir)
        prefix = job.job_spec.base_output_directory.output_uri_prefix
        assert prefix.startswith("gs://bucket/tfmtl-hoa-pairs/jobs/")
    assert len(runs) == 45
    heads = [x for x in lines if x.startswith("job tfmtl-hoa-pairs-")]
    assert len(heads) == 45 and "NVIDIA_L4 x1 spot" in heads[0]
    (estimate,) = [x for x in lines if x.startswith("estimate:")]
    assert "= 39.75 accelerator-hours" in estimate
    # Nothing ran: no search log.
    assert not os.path.exists(base / "pair_runs" / "search_log.jsonl")


@pytest.mark.large
def test_hoa_trains_real_runs_on_fake_vertex_jobs(tmp_path):
    """The HOA loop with the real child (`group_run_main` training with
    `tfmtl train` in each job's container command, smoke-sized): every
    run's model dir is under the output dir, its eval_results.json comes
    back, and HOA's matrix is built from them."""
    tasks = ["attr_a0", "attr_b0", "segmentation"]
    base, bucket = tmp_path / "hoa", tmp_path / "bucket"
    client = FakeJobClient(tmp_path / "jobs", preempt={"tfmtl-hoa-pairs-4-a0"})
    summary = groups.train(
        str(base),
        groups.pair_runs(tasks),
        ["gin_configs/smoke.gin"],
        ["TRAIN_STEPS = 2", "EVAL_EVERY = 2", "CHECKPOINT_EVERY = 2"],
        "pair_runs",
        num_workers=2,
        backend=_vertex_factory(client, bucket),
    )
    assert summary["num_evaluations"] == 6 and not summary["failed"]
    assert summary["retried"] == [4]
    for run in groups.pair_runs(tasks):
        name = "+".join(run)
        remote = (bucket / name / "eval_results.json").read_text()
        assert (base / name / "eval_results.json").read_text() == remote
    matrix = np.array(groups.hoa_matrix(str(base), tasks))
    assert matrix.shape == (3, 3) and np.all(np.isfinite(matrix))
    # The matrix holds each run's own validation loss of the target.
    with open(base / "attr_a0+attr_b0" / "eval_results.json") as f:
        pair = json.load(f)["results"]
    assert matrix[0, 1] == pytest.approx(pair["loss/attr_a0"])
    assert matrix[1, 0] == pytest.approx(pair["loss/attr_b0"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--image_uri=img"], "needs a gs:// --base_output_dir"),
        (["--image_uri=img", "--base_output_dir=/local"], "got '/local'"),
        (["--staging_bucket=gs://b"], "--image_uri is required."),
        (
            ["--image_uri=img", "--staging_bucket=gs://b", "--env=A"],
            "--env needs KEY=VALUE, got 'A'.",
        ),
    ],
)
def test_bad_vertex_flags_are_one_error_line(tmp_path, flags, message):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.methods.tag.groups",
            "--mode=train_pairs",
            "--tasks=a,b",
            f"--base_dir={tmp_path}",
            "--backend=vertex",
            "--dry_run",
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [x for x in out.stderr.splitlines() if "error:" in x]
    assert len(errors) == 1 and message in errors[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
