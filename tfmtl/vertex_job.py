"""The Vertex AI `CustomJob` of a run of any tfmtl binary.

`scripts/launch_vertex.py` is the command line around it, and the `vertex`
backend of `tfmtl.search` submits the jobs it builds: this module only turns
a binary's arguments and machine settings into the job proto (and its JSON),
so it can be checked without a cloud project. It needs the `vertex` extra
(`google-cloud-aiplatform`), imported when a job is built.
"""

import datetime
import re

TRAINER_COMMAND = ("python", "-m", "tfmtl.train")

_BINDS = r"(?:--gin\.{name}=|--gin_bindings=\s*{name}\s*=)"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TENSORBOARD = re.compile(
    r"^projects/[^/]+/locations/[^/]+/tensorboards/[^/]+$"
)


def binds(args, name):
    """Whether trainer `args` bind the gin macro `name` on the command line."""
    pattern = re.compile(_BINDS.format(name=re.escape(name)))
    return any(pattern.match(arg) for arg in args)


def module_command(module):
    """The container command that runs the binary `module`."""
    if not _MODULE.match(module or ""):
        raise ValueError(f"Bad module name {module!r}.")
    return ("python", "-m", module)


def trainer_args(args, *, replica_count=1, base_output_dir=None):
    """The container arguments: `args` verbatim plus the launcher's defaults.

    The defaults (`MODEL_DIR=None` so the run uses the `AIP_*` directories,
    `STRATEGY='multi_worker'` with several replicas) are those of
    `tfmtl.train`; other binaries get their arguments verbatim.

    Args:
        args: Arguments of `python -m tfmtl.train`.
        replica_count: Machines in the job.
        base_output_dir: The job's base output directory, if any.

    Returns:
        The list of arguments.
    """
    out = list(args)
    if base_output_dir and not binds(args, "MODEL_DIR"):
        out.append("--gin.MODEL_DIR=None")
    if replica_count > 1 and not binds(args, "STRATEGY"):
        out.append("--gin.STRATEGY='multi_worker'")
    return out


def build_custom_job(
    args,
    *,
    display_name,
    command=TRAINER_COMMAND,
    image_uri,
    machine_type="n1-standard-8",
    accelerator_type=None,
    accelerator_count=1,
    replica_count=1,
    base_output_dir=None,
    tensorboard=None,
    service_account=None,
    env=(),
    labels=(),
    spot=False,
    restart_job_on_worker_restart=None,
    timeout_hours=None,
):
    """Builds the Vertex AI `CustomJob` proto of a run of a tfmtl binary.

    Args:
        args: Arguments of the binary, forwarded verbatim.
        display_name: Job name.
        command: The container command (default `python -m tfmtl.train`;
            see `module_command`). Only `tfmtl.train` gets the launcher's
            default bindings (`trainer_args`) and needs an output directory.
        image_uri: Training container image.
        machine_type: Machine of each replica.
        accelerator_type: `AcceleratorType` name (e.g. "NVIDIA_TESLA_T4").
        accelerator_count: Accelerators per replica.
        replica_count: Machines in all; pool 0 is the chief, pool 1 the
            other workers.
        base_output_dir: gs:// directory that sets the `AIP_*` directories.
        tensorboard: Vertex AI TensorBoard resource name.
        service_account: Service account of the job.
        env: (name, value) pairs of container environment variables.
        labels: (key, value) job labels.
        spot: Run on Spot VMs.
        restart_job_on_worker_restart: Restart all replicas when one
            restarts (None: when `replica_count` > 1).
        timeout_hours: Maximum running time.

    Returns:
        A `google.cloud.aiplatform_v1.types.CustomJob`.

    Raises:
        ValueError: for inconsistent settings.
    """
    from google.cloud.aiplatform_v1.types import (
        accelerator_type as accelerators,
    )
    from google.cloud.aiplatform_v1.types import (
        custom_job,
        env_var,
        io,
        machine_resources,
    )

    if not image_uri:
        raise ValueError("--image_uri is required.")
    if tensorboard:
        if not _TENSORBOARD.match(tensorboard):
            raise ValueError(
                f"--tensorboard={tensorboard!r} is not a resource name "
                "projects/P/locations/L/tensorboards/ID."
            )
        if not service_account:
            raise ValueError("--tensorboard needs --service_account.")
        if not base_output_dir:
            raise ValueError(
                "--tensorboard needs --base_output_dir or --staging_bucket."
            )
    trainer = tuple(command) == TRAINER_COMMAND
    if trainer and not base_output_dir and not binds(args, "MODEL_DIR"):
        raise ValueError(
            "Set --base_output_dir or --staging_bucket (or bind MODEL_DIR "
            "to a gs:// path): the container's disk is lost after the job."
        )
    if base_output_dir and not base_output_dir.startswith("gs://"):
        raise ValueError(
            f"--base_output_dir must be gs://, got {base_output_dir!r}."
        )
    machine = machine_resources.MachineSpec(machine_type=machine_type)
    if accelerator_type:
        names = accelerators.AcceleratorType.__members__
        if accelerator_type not in names or accelerator_type.endswith(
            "UNSPECIFIED"
        ):
            choices = ", ".join(n for n in names if "UNSPECIFIED" not in n)
            raise ValueError(
                f"Unknown accelerator {accelerator_type!r}; one of {choices}."
            )
        machine.accelerator_type = names[accelerator_type]
        machine.accelerator_count = accelerator_count
    for name, _ in env:
        if not _NAME.match(name):
            raise ValueError(f"Bad environment variable name {name!r}.")
    for key, _ in labels:
        if not _LABEL.match(key):
            raise ValueError(
                f"Bad label key {key!r}: lowercase letters, digits, - and _."
            )
    container = custom_job.ContainerSpec(
        image_uri=image_uri,
        command=list(command),
        args=trainer_args(
            args, replica_count=replica_count, base_output_dir=base_output_dir
        )
        if trainer
        else list(args),
        env=[env_var.EnvVar(name=n, value=v) for n, v in env],
    )
    pools = [
        custom_job.WorkerPoolSpec(
            machine_spec=machine, replica_count=1, container_spec=container
        )
    ]
    if replica_count > 1:
        pools.append(
            custom_job.WorkerPoolSpec(
                machine_spec=machine,
                replica_count=replica_count - 1,
                container_spec=container,
            )
        )
    if restart_job_on_worker_restart is None:
        restart_job_on_worker_restart = replica_count > 1
    scheduling = custom_job.Scheduling(
        restart_job_on_worker_restart=restart_job_on_worker_restart
    )
    if spot:
        scheduling.strategy = custom_job.Scheduling.Strategy.SPOT
    if timeout_hours:
        scheduling.timeout = datetime.timedelta(hours=timeout_hours)
    spec = custom_job.CustomJobSpec(
        worker_pool_specs=pools,
        scheduling=scheduling,
        service_account=service_account or "",
        tensorboard=tensorboard or "",
    )
    if base_output_dir:
        spec.base_output_directory = io.GcsDestination(
            output_uri_prefix=base_output_dir
        )
    return custom_job.CustomJob(
        display_name=display_name, job_spec=spec, labels=dict(labels)
    )


def to_json(job):
    """The job as JSON, enums by name (what `CustomJob.from_json` reads)."""
    return type(job).to_json(
        job,
        use_integers_for_enums=False,
        always_print_fields_with_no_presence=False,
        indent=2,
    )


def job_service_client(region):
    """A `JobServiceClient` for the regional Vertex AI endpoint."""
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}
    )
