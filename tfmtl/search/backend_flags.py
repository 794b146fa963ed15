"""`--backend=local|vertex` and the Vertex AI flags of the outer loops.

Every outer-loop binary calls `define(__name__)` next to its own flags and
hands `from_flags()` to its loop; the loop builds its `SubprocessEvaluator`
and turns it into a backend with the returned factory:

    backend = backend_flags.from_flags("hoa")   # in the binary
    evaluate = backend(evaluator, base_dir, num_workers, devices)

`scripts/launch_vertex.py` defines the same Vertex AI flags with
`define_vertex_flags`, so a loop takes exactly the launcher's flags.
"""

import os

from absl import flags

from tfmtl import cli
from tfmtl.search.dry_run import DryRun
from tfmtl.search.local_backend import LocalBackend
from tfmtl.search.vertex_backend import VertexBackend

FLAGS = flags.FLAGS
BACKENDS = ("local", "vertex")

_VERTEX = (
    (
        "string",
        "project",
        os.environ.get("GOOGLE_CLOUD_PROJECT"),
        "Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, then the "
        "application-default credentials' project).",
        {},
    ),
    ("string", "region", "us-central1", "Vertex AI region.", {}),
    (
        "string",
        "display_name",
        None,
        "Job name (default: tfmtl-<UTC time>; a loop's jobs start with it).",
        {},
    ),
    ("string", "image_uri", None, "Training container image.", {}),
    ("string", "machine_type", "n1-standard-8", "Machine of each replica.", {}),
    (
        "string",
        "accelerator_type",
        None,
        "Accelerator of each replica, e.g. NVIDIA_TESLA_T4, NVIDIA_L4 "
        "(default: none).",
        {},
    ),
    (
        "integer",
        "accelerator_count",
        1,
        "Accelerators per replica (with accelerator_type).",
        {},
    ),
    (
        "integer",
        "replica_count",
        1,
        "Machines in all (chief + workers). Above 1: "
        "MultiWorkerMirroredStrategy.",
        {"lower_bound": 1},
    ),
    (
        "string",
        "staging_bucket",
        None,
        "gs:// bucket; the default base output directory is "
        "<staging_bucket>/<display_name>.",
        {},
    ),
    (
        "string",
        "base_output_dir",
        None,
        "gs:// directory of the job's outputs (sets the AIP_* directories).",
        {},
    ),
    (
        "string",
        "tensorboard",
        None,
        "Vertex AI TensorBoard resource (projects/P/locations/L/tensorboards/"
        "ID); needs --service_account.",
        {},
    ),
    ("string", "service_account", None, "Service account of the job.", {}),
    (
        "multi_string",
        "env",
        [],
        "NAME=VALUE environment variable of the container (repeat).",
        {},
    ),
    ("multi_string", "labels", [], "key=value job label (repeat).", {}),
    (
        "bool",
        "spot",
        False,
        "Use Spot VMs (cheaper, preemptible; the job resumes).",
        {},
    ),
    (
        "bool",
        "restart_job_on_worker_restart",
        None,
        "Restart every replica when one restarts (default: on with several "
        "replicas, which MultiWorkerMirroredStrategy needs).",
        {},
    ),
    (
        "float",
        "timeout_hours",
        None,
        "Cancel the job after this long.",
        {"lower_bound": 0},
    ),
    (
        "bool",
        "dry_run",
        False,
        "Print the job spec(s) as JSON; contact nothing, run nothing.",
        {},
    ),
)

_LOOP = (
    (
        "enum",
        "backend",
        "local",
        "Where child runs go: local processes or Vertex AI jobs.",
        {"enum_values": list(BACKENDS)},
    ),
    (
        "integer",
        "max_jobs",
        None,
        "Jobs at once (default: the loop's number of workers).",
        {},
    ),
    (
        "integer",
        "evals_per_job",
        1,
        "Evaluations per Vertex AI job (amortises job start-up).",
        {},
    ),
    (
        "float",
        "poll_seconds",
        30.0,
        "Seconds between polls of Vertex jobs.",
        {},
    ),
    (
        "integer",
        "steps_per_run",
        None,
        "Training steps of one child run (dry-run cost estimate).",
        {},
    ),
    (
        "float",
        "steps_per_second",
        None,
        "Measured steps/s of one child run (dry-run cost estimate).",
        {},
    ),
)


def define_vertex_flags(module):
    """Defines the launcher's Vertex AI flags for the binary `module`."""
    for kind, name, default, text, kwargs in _VERTEX:
        cli.define(module, kind, name, default, text, **kwargs)


def define(module):
    """Defines `--backend`, the Vertex AI flags and the driver's flags."""
    define_vertex_flags(module)
    for kind, name, default, text, kwargs in _LOOP:
        cli.define(module, kind, name, default, text, **kwargs)


def key_values(items, what):
    """`["K=V", ...]` as pairs; ValueError names the flag `--what`."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--{what} needs KEY=VALUE, got {item!r}.")
        pairs.append((key, value))
    return pairs


def job_settings(values=None):
    """`vertex_job.build_custom_job` keyword arguments from the flags."""
    v = values or FLAGS
    return {
        "image_uri": v.image_uri,
        "machine_type": v.machine_type,
        "accelerator_type": v.accelerator_type,
        "accelerator_count": v.accelerator_count,
        "replica_count": v.replica_count,
        "tensorboard": v.tensorboard,
        "service_account": v.service_account,
        "env": key_values(v.env, "env"),
        "labels": key_values(v.labels, "labels"),
        "spot": v.spot,
        "restart_job_on_worker_restart": v.restart_job_on_worker_restart,
        "timeout_hours": v.timeout_hours,
    }


def output_dir(name, values=None):
    """The loop's gs:// root: --base_output_dir or <bucket>/<name>."""
    v = values or FLAGS
    root = v.base_output_dir
    if not root and v.staging_bucket:
        root = f"{v.staging_bucket.rstrip('/')}/{v.display_name or name}"
    if not root or not root.startswith("gs://"):
        raise ValueError(
            "--backend=vertex needs a gs:// --base_output_dir or "
            f"--staging_bucket, got {root!r}."
        )
    return root.rstrip("/")


def from_flags(name, client=None):
    """The backend factory of the parsed flags (see the module doc).

    Args:
        name: The loop's name (job names, default output directory).
        client: A `JobServiceClient` (default: the region's, created when
            the first job is submitted).
    """
    v = FLAGS
    if v.backend == "local":
        settings = None
    else:
        settings = {
            "project": v.project or ("dry-run" if v.dry_run else None),
            "region": v.region,
            "output_dir": output_dir(name),
            "job_settings": job_settings(),
            "evals_per_job": v.evals_per_job,
            "name_prefix": v.display_name or name,
            "poll_seconds": v.poll_seconds,
        }
        if not settings["project"]:
            settings["project"] = _default_project()
    dry_run = DryRun(v.steps_per_run, v.steps_per_second) if v.dry_run else None

    def factory(evaluator, local_dir, num_workers=1, devices=None):
        max_jobs = v.max_jobs or num_workers
        return make_backend(
            evaluator,
            local_dir,
            vertex=settings,
            max_jobs=max_jobs,
            devices=devices,
            dry_run=dry_run,
            client=client,
        )

    return factory


def make_backend(
    evaluator,
    local_dir,
    *,
    vertex=None,
    max_jobs=1,
    devices=None,
    dry_run=None,
    client=None,
):
    """A `LocalBackend`, or with `vertex` settings a `VertexBackend`.

    Args:
        evaluator: The loop's `SubprocessEvaluator`.
        local_dir: The loop's directory on this machine; under vertex it
            maps to the output directory (`VertexBackend.path_map`).
        vertex: `VertexBackend` keyword arguments (project, region,
            output_dir, job_settings, ...), or None for the local backend.
        max_jobs: Jobs (local: child processes) at once.
        devices: GPU ids of the local backend (default: the visible ones).
        dry_run: A `DryRun`, or None.
        client: The Vertex AI client (default: the region's).
    """
    if vertex is None:
        backend = LocalBackend(evaluator, max_jobs=max_jobs, devices=devices)
    else:
        settings = dict(vertex)
        if not settings.get("project"):
            raise ValueError("--backend=vertex needs --project.")
        if client is None and dry_run is None:
            from tfmtl import vertex_job

            client = vertex_job.job_service_client(settings["region"])
        backend = VertexBackend(
            evaluator,
            client=client,
            path_map={str(local_dir): settings["output_dir"]},
            max_jobs=max_jobs,
            **settings,
        )
    backend.dry_run = dry_run
    return backend


def _default_project():
    try:
        import google.auth
        import google.auth.exceptions
    except ImportError:
        return None
    try:
        return google.auth.default()[1]
    except google.auth.exceptions.DefaultCredentialsError:
        return None
