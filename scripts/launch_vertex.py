r"""Runs any tfmtl binary as a Vertex AI custom job.

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

`--binary` picks another binary: a `tfmtl <command>` name (`tag-groups`,
`select-groups`, `feature-partitioning`, `adashare`, `taps`) or any module
(`tfmtl.methods.taps.export`); its arguments are forwarded verbatim, without
the trainer's defaults below. An outer loop's driver runs this way as a small
CPU job (`--binary=tag-groups --machine_type=n1-standard-4 -- --mode=...
--backend=vertex ...`), its directory on the `/gcs/<bucket>` mount, so a
laptop can disconnect. The Vertex AI flags are those of every outer loop's
`--backend=vertex` (`tfmtl.search.backend_flags`).

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

from tfmtl import vertex_job
from tfmtl.__main__ import COMMANDS
from tfmtl.search import backend_flags
from tfmtl.vertex_job import (  # noqa: F401 - the launcher's API
    TRAINER_COMMAND,
    binds,
    build_custom_job,
    module_command,
    to_json,
    trainer_args,
)

FLAGS = flags.FLAGS
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

backend_flags.define_vertex_flags(__name__)
flags.DEFINE_string(
    "binary",
    "train",
    "The tfmtl binary the job runs: a `tfmtl <command>` name ("
    + ", ".join(COMMANDS)
    + ") or a module (e.g. tfmtl.methods.taps.export).",
)


def binary_command(binary):
    """The container command of `--binary` (a command name or a module)."""
    return module_command(COMMANDS.get(binary, binary))


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
    return vertex_job.job_service_client(region)


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
            "Pass the binary's arguments after `--`, e.g. "
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
            command=binary_command(FLAGS.binary),
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
