"""scripts/launch_vertex.py and the environment a Vertex AI job gives.

Nothing here contacts Google Cloud: dry-run specs are parsed back into the
`google.cloud.aiplatform_v1` `CustomJob` proto, submission goes to a fake
client, and the trainer runs locally with the `AIP_*` variables a job sets.
"""

import datetime
import glob
import importlib.util
import os
import subprocess
import sys

import pytest
import tensorflow as tf

# The `vertex` extra (google-cloud-aiplatform) is part of the test set-up.
from google.cloud.aiplatform_v1.types import accelerator_type, custom_job

from tfmtl.experiment import Directories

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "launch_vertex.py")
SMOKE = "gin_configs/smoke.gin"
TRAINER = [f"--gin_file={SMOKE}", "--gin.TASK_NAMES=['depth']", "--mode=train"]
_AIP = ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR")


def _load_launcher():
    spec = importlib.util.spec_from_file_location("launch_vertex", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launcher = _load_launcher()


def _env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CONFIG", "CLUSTER_SPEC", *_AIP)
    }
    env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def _launch(*flags, trainer=TRAINER):
    return subprocess.run(
        [sys.executable, SCRIPT, *flags, "--", *trainer],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _dry_run(*flags, trainer=TRAINER):
    result = _launch("--dry_run", "--image_uri=img:1", *flags, trainer=trainer)
    assert result.returncode == 0, result.stderr[-3000:]
    return custom_job.CustomJob.from_json(result.stdout)


# ------------------------------------------------------------ dry-run specs
def test_dry_run_single_replica_job():
    job = _dry_run("--staging_bucket=gs://bucket/", "--display_name=smoke")
    assert job.display_name == "smoke"
    (pool,) = job.job_spec.worker_pool_specs
    assert pool.replica_count == 1
    assert pool.machine_spec.machine_type == "n1-standard-8"
    assert not pool.machine_spec.accelerator_count
    container = pool.container_spec
    assert container.image_uri == "img:1"
    assert list(container.command) == ["python", "-m", "tfmtl.train"]
    # Forwarded verbatim; MODEL_DIR=None makes the trainer use AIP_*.
    assert list(container.args) == [*TRAINER, "--gin.MODEL_DIR=None"]
    base = job.job_spec.base_output_directory.output_uri_prefix
    assert base == "gs://bucket/smoke"
    assert not job.job_spec.scheduling.restart_job_on_worker_restart
    assert not job.job_spec.tensorboard


def test_dry_run_multi_worker_gpu_job_with_tensorboard():
    tensorboard = "projects/p/locations/us-central1/tensorboards/42"
    job = _dry_run(
        "--base_output_dir=gs://bucket/runs/a",
        "--replica_count=3",
        "--machine_type=g2-standard-8",
        "--accelerator_type=NVIDIA_L4",
        "--accelerator_count=2",
        f"--tensorboard={tensorboard}",
        "--service_account=sa@p.iam.gserviceaccount.com",
        "--env=TFDS_DATA_DIR=gs://bucket/tfds",
        "--labels=team=mtl",
        "--spot",
        "--timeout_hours=1.5",
    )
    chief, workers = job.job_spec.worker_pool_specs
    assert (chief.replica_count, workers.replica_count) == (1, 2)
    for pool in (chief, workers):
        machine = pool.machine_spec
        assert machine.machine_type == "g2-standard-8"
        assert machine.accelerator_type == (
            accelerator_type.AcceleratorType.NVIDIA_L4
        )
        assert machine.accelerator_count == 2
        assert list(pool.container_spec.args) == [
            *TRAINER,
            "--gin.MODEL_DIR=None",
            "--gin.STRATEGY='multi_worker'",
        ]
        (env,) = pool.container_spec.env
        assert (env.name, env.value) == ("TFDS_DATA_DIR", "gs://bucket/tfds")
    spec = job.job_spec
    assert spec.base_output_directory.output_uri_prefix == "gs://bucket/runs/a"
    assert spec.tensorboard == tensorboard
    assert spec.service_account == "sa@p.iam.gserviceaccount.com"
    assert spec.scheduling.restart_job_on_worker_restart
    assert spec.scheduling.strategy == custom_job.Scheduling.Strategy.SPOT
    assert spec.scheduling.timeout == datetime.timedelta(hours=1.5)
    assert dict(job.labels) == {"team": "mtl"}


def test_user_bindings_are_kept_and_not_overridden():
    trainer = [
        f"--gin_file={SMOKE}",
        "--gin.MODEL_DIR='gs://bucket/mine'",
        "--gin_bindings=STRATEGY = 'auto'",
        "--mode=train_and_evaluate",
    ]
    job = launcher.build_custom_job(
        trainer, display_name="j", image_uri="img", replica_count=2
    )
    for pool in job.job_spec.worker_pool_specs:
        assert list(pool.container_spec.args) == trainer
    assert not job.job_spec.base_output_directory.output_uri_prefix
    # What the proto holds survives the JSON the dry run prints.
    again = custom_job.CustomJob.from_json(launcher.to_json(job))
    assert again == job


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "Set --base_output_dir or --staging_bucket"),
        ({"image_uri": ""}, "--image_uri is required"),
        ({"base_output_dir": "/local"}, "must be gs://"),
        (
            {"base_output_dir": "gs://b", "accelerator_type": "GTX_1080"},
            "Unknown accelerator 'GTX_1080'",
        ),
        (
            {
                "base_output_dir": "gs://b",
                "tensorboard": "projects/p/locations/l/tensorboards/1",
            },
            "needs --service_account",
        ),
        (
            {
                "base_output_dir": "gs://b",
                "tensorboard": "my-tensorboard",
                "service_account": "sa",
            },
            "is not a resource name",
        ),
        ({"base_output_dir": "gs://b", "labels": [("Team", "x")]}, "label"),
        ({"base_output_dir": "gs://b", "env": [("A-B", "x")]}, "variable"),
    ],
)
def test_inconsistent_settings_are_rejected(kwargs, message):
    kwargs = {"display_name": "j", "image_uri": "img", **kwargs}
    with pytest.raises(ValueError, match=message):
        launcher.build_custom_job(TRAINER, **kwargs)


def test_command_line_errors_exit_2_with_one_line():
    missing = _launch(
        "--dry_run",
        "--image_uri=img",
        "--staging_bucket=gs://b",
        trainer=["--gin_file=nope.gin", "--mode=train"],
    )
    assert missing.returncode == 2
    assert "launch_vertex: error: Gin file not found: nope.gin" in (
        missing.stderr
    )
    no_output = _launch("--dry_run", "--image_uri=img")
    assert no_output.returncode == 2
    assert "Set --base_output_dir or --staging_bucket" in no_output.stderr
    assert "Traceback" not in missing.stderr + no_output.stderr


def test_submit_creates_the_printed_job(monkeypatch):
    calls = []

    class FakeClient:
        def create_custom_job(self, *, parent, custom_job):
            calls.append((parent, custom_job))
            created = type(custom_job)(custom_job)
            created.name = f"{parent}/customJobs/123"
            return created

    regions = []
    monkeypatch.setattr(
        launcher,
        "job_service_client",
        lambda region: regions.append(region) or FakeClient(),
    )
    job = launcher.build_custom_job(
        TRAINER, display_name="j", image_uri="img", base_output_dir="gs://b/j"
    )
    created = launcher.submit(job, project="proj", region="europe-west4")
    assert regions == ["europe-west4"]
    assert calls == [("projects/proj/locations/europe-west4", job)]
    assert created.name.endswith("/customJobs/123")


# --------------------------------------------------- the job's environment
def test_directories_follow_the_aip_variables():
    aip = {
        "AIP_MODEL_DIR": "gs://b/j/model/",
        "AIP_CHECKPOINT_DIR": "gs://b/j/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": "gs://b/j/logs/",
    }
    assert Directories.resolve(None, aip) == Directories(
        "gs://b/j/model/", "gs://b/j/checkpoints/", "gs://b/j/logs/"
    )
    # An explicit model_dir keeps the run's state together; only the
    # summaries still go where Vertex AI TensorBoard uploads from.
    assert Directories.resolve("/runs/a", aip) == Directories(
        "/runs/a", "/runs/a", "gs://b/j/logs/"
    )
    assert Directories.resolve("/runs/a", {}) == Directories(
        "/runs/a", "/runs/a", "/runs/a"
    )
    only_model = {"AIP_MODEL_DIR": "gs://b/m"}
    assert Directories.resolve(None, only_model) == Directories(
        "gs://b/m", "gs://b/m", "gs://b/m"
    )
    with pytest.raises(ValueError, match="Set MODEL_DIR"):
        Directories.resolve(None, {"AIP_CHECKPOINT_DIR": "gs://b/c"})


@pytest.mark.large
def test_the_dry_run_command_trains_in_the_aip_directories(tmp_path):
    # Run the container command of the spec locally, with the variables
    # Vertex AI derives from the base output directory.
    job = _dry_run(
        "--staging_bucket=gs://bucket",
        trainer=[
            f"--gin_file={SMOKE}",
            "--gin.TASK_NAMES=['attr_a0']",
            "--gin.TRAIN_STEPS=2",
            "--gin.CHECKPOINT_EVERY=1",
            "--mode=train_and_evaluate",
        ],
    )
    container = job.job_spec.worker_pool_specs[0].container_spec
    command = [sys.executable, *container.command[1:], *container.args]
    aip = {name: str(tmp_path / name.lower()) + "/" for name in _AIP}
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=_env(**aip),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = aip["AIP_CHECKPOINT_DIR"]
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-2")
    assert f"Run train_and_evaluate in {aip['AIP_MODEL_DIR']}" in result.stderr
    logs = aip["AIP_TENSORBOARD_LOG_DIR"]
    assert glob.glob(os.path.join(logs, "train", "events.*"))
    assert glob.glob(os.path.join(logs, "eval", "events.*"))
    events = glob.glob(str(tmp_path / "**" / "events.*"), recursive=True)
    assert all(e.startswith(logs) for e in events)


@pytest.mark.parametrize(
    "binary, module",
    [
        ("tag-groups", "tfmtl.methods.tag.groups"),
        ("select-groups", "tfmtl.methods.tag.select_main"),
        ("feature-partitioning", "tfmtl.methods.feature_partitioning.main"),
        ("adashare", "tfmtl.methods.adashare.main"),
        ("taps", "tfmtl.methods.taps.main"),
        ("tfmtl.methods.taps.export", "tfmtl.methods.taps.export"),
    ],
)
def test_any_binary_is_launched_with_its_arguments_verbatim(binary, module):
    """Issue #19 item 2: `--binary` launches any tfmtl binary; only
    `tfmtl.train` gets the trainer's default bindings."""
    args = ["--mode=train_pairs", "--tasks=a,b", "--base_dir=/gcs/b/hoa"]
    job = _dry_run(
        f"--binary={binary}",
        "--staging_bucket=gs://b",
        "--machine_type=n1-standard-4",
        trainer=args,
    )
    (pool,) = job.job_spec.worker_pool_specs
    assert list(pool.container_spec.command) == ["python", "-m", module]
    assert list(pool.container_spec.args) == args
    assert pool.machine_spec.machine_type == "n1-standard-4"


def test_a_bad_binary_is_one_error_line():
    bad = _launch(
        "--dry_run",
        "--image_uri=img",
        "--staging_bucket=gs://b",
        "--binary=a b",
    )
    assert bad.returncode == 2
    assert "launch_vertex: error: Bad module name 'a b'." in bad.stderr
