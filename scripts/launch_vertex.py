r"""Runs any `tfmtl.train` invocation as a Vertex AI custom job.

Usage:
  python scripts/launch_vertex.py --project=my-project --region=us-central1 \
      --image_uri=us-docker.pkg.dev/my-project/tfmtl/train:latest \
      --staging_bucket=gs://my-bucket --replica_count=2 \
      --machine_type=n1-standard-8 --accelerator_type=NVIDIA_TESLA_T4 \
      [--tensorboard=projects/.../tensorboards/123 --service_account=...] \
      [--dry_run] \
      -- --gin_file=gin_configs/quickstart.gin --mode=train_and_evaluate

Everything after `--` is passed verbatim to `python -m tfmtl.train` in the
container (gin files, `--gin.NAME=VALUE` bindings, `--mode`, ...). Gin files
are read inside the image, so they must be part of it (rebuild after edits).

The job's base output directory (`--base_output_dir`, default
`<staging_bucket>/<display_name>`) makes Vertex AI set `AIP_MODEL_DIR`,
`AIP_CHECKPOINT_DIR` and `AIP_TENSORBOARD_LOG_DIR`; unless the trainer
arguments bind `MODEL_DIR`, `--gin.MODEL_DIR=None` is appended so the run
uses them. With `--replica_count` above 1, pool 0 holds the chief and pool 1
the other workers, `--gin.STRATEGY='multi_worker'` is appended (unless
`STRATEGY` is bound) and the whole job restarts when a worker restarts, so
that `MultiWorkerMirroredStrategy` resumes from the last checkpoint.

`--dry_run` prints the job (a `google.cloud.aiplatform_v1.types.CustomJob` as
JSON) and contacts nothing. Otherwise the job is created with
`JobServiceClient.create_custom_job` and its name is printed. Needs the
`vertex` extra: `pip install -e '.[vertex]'`.
"""

import datetime
import os
import sys

from absl import app, flags, logging

from tfmtl.vertex_job import (  # noqa: F401 - the launcher's API
    TRAINER_COMMAND,
    binds,
    build_custom_job,
    to_json,
    trainer_args,
)

FLAGS = flags.FLAGS
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string(
    "project",
    os.environ.get("GOOGLE_CLOUD_PROJECT"),
    "Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, then the "
    "application-default credentials' project).",
)
flags.DEFINE_string("region", "us-central1", "Vertex AI region.")
flags.DEFINE_string(
    "display_name", None, "Job name (default: tfmtl-<UTC time>)."
)
flags.DEFINE_string("image_uri", None, "Training container image.")
flags.DEFINE_string("machine_type", "n1-standard-8", "Machine of each replica.")
flags.DEFINE_string(
    "accelerator_type",
    None,
    "Accelerator of each replica, e.g. NVIDIA_TESLA_T4, NVIDIA_L4 (default: "
    "none).",
)
flags.DEFINE_integer(
    "accelerator_count", 1, "Accelerators per replica (with accelerator_type)."
)
flags.DEFINE_integer(
    "replica_count",
    1,
    "Machines in all (chief + workers). Above 1: MultiWorkerMirroredStrategy.",
    lower_bound=1,
)
flags.DEFINE_string(
    "staging_bucket",
    None,
    "gs:// bucket; the default base output directory is "
    "<staging_bucket>/<display_name>.",
)
flags.DEFINE_string(
    "base_output_dir",
    None,
    "gs:// directory of the job's model/, checkpoints/ and logs/ (sets the "
    "AIP_* directories).",
)
flags.DEFINE_string(
    "tensorboard",
    None,
    "Vertex AI TensorBoard resource "
    "(projects/P/locations/L/tensorboards/ID); needs --service_account.",
)
flags.DEFINE_string("service_account", None, "Service account of the job.")
flags.DEFINE_multi_string(
    "env", [], "NAME=VALUE environment variable of the container (repeat)."
)
flags.DEFINE_multi_string("labels", [], "key=value job label (repeat).")
flags.DEFINE_bool(
    "spot", False, "Use Spot VMs (cheaper, preemptible; the job resumes)."
)
flags.DEFINE_bool(
    "restart_job_on_worker_restart",
    None,
    "Restart every replica when one restarts (default: on with several "
    "replicas, which MultiWorkerMirroredStrategy needs).",
)
flags.DEFINE_float(
    "timeout_hours", None, "Cancel the job after this long.", lower_bound=0
)
flags.DEFINE_bool(
    "dry_run", False, "Print the job spec as JSON; contact nothing."
)


def _fail(message):
    print(f"launch_vertex: error: {message}", file=sys.stderr)
    sys.exit(2)


def _key_values(items, what):
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--{what} needs KEY=VALUE, got {item!r}.")
        pairs.append((key, value))
    return pairs


def job_service_client(region):
    """A `JobServiceClient` for the regional Vertex AI endpoint."""
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}
    )


def submit(job, *, project, region):
    """Creates the job on Vertex AI; returns the created `CustomJob`."""
    client = job_service_client(region)
    return client.create_custom_job(
        parent=f"projects/{project}/locations/{region}", custom_job=job
    )


def _default_project():
    import google.auth
    import google.auth.exceptions

    try:
        return google.auth.default()[1]
    except google.auth.exceptions.DefaultCredentialsError:
        return None


def _check_gin_files(args):
    for arg in args:
        if arg.startswith("--gin_file="):
            path = arg.split("=", 1)[1]
            if not any(
                os.path.exists(os.path.join(root, path))
                for root in ("", _REPO_ROOT)
            ):
                _fail(f"Gin file not found: {path} (it must be in the image).")


def main(argv):
    args = argv[1:]
    if not args:
        raise app.UsageError(
            "Pass the trainer's arguments after `--`, e.g. "
            "-- --gin_file=gin_configs/smoke.gin --mode=train"
        )
    if not args[0].startswith("-"):
        raise app.UsageError(f"Unexpected arguments: {args}")
    _check_gin_files(args)
    display_name = FLAGS.display_name or datetime.datetime.now(
        datetime.UTC
    ).strftime("tfmtl-%Y%m%d-%H%M%S")
    base_output_dir = FLAGS.base_output_dir
    if not base_output_dir and FLAGS.staging_bucket:
        base_output_dir = f"{FLAGS.staging_bucket.rstrip('/')}/{display_name}"
    try:
        job = build_custom_job(
            args,
            display_name=display_name,
            image_uri=FLAGS.image_uri,
            machine_type=FLAGS.machine_type,
            accelerator_type=FLAGS.accelerator_type,
            accelerator_count=FLAGS.accelerator_count,
            replica_count=FLAGS.replica_count,
            base_output_dir=base_output_dir,
            tensorboard=FLAGS.tensorboard,
            service_account=FLAGS.service_account,
            env=_key_values(FLAGS.env, "env"),
            labels=_key_values(FLAGS.labels, "labels"),
            spot=FLAGS.spot,
            restart_job_on_worker_restart=FLAGS.restart_job_on_worker_restart,
            timeout_hours=FLAGS.timeout_hours,
        )
    except ValueError as error:
        _fail(error)
    if FLAGS.dry_run:
        print(to_json(job))
        return
    project = FLAGS.project or _default_project()
    if not project:
        _fail("Set --project (or $GOOGLE_CLOUD_PROJECT).")
    created = submit(job, project=project, region=FLAGS.region)
    job_id = created.name.rsplit("/", 1)[-1]
    print(created.name)
    logging.info(
        "Console: https://console.cloud.google.com/vertex-ai/locations/%s/"
        "training/%s/cpu?project=%s",
        FLAGS.region,
        job_id,
        project,
    )
    logging.info("Logs: gcloud ai custom-jobs stream-logs %s", created.name)
    if base_output_dir:
        logging.info("Outputs: %s", base_output_dir)


if __name__ == "__main__":
    try:
        import google.cloud.aiplatform_v1  # noqa: F401
    except ImportError:
        sys.exit(
            "launch_vertex.py needs google-cloud-aiplatform: "
            "pip install -e '.[vertex]'"
        )
    app.run(main)
