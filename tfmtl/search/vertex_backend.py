"""The `vertex` backend: each evaluation (or batch) a Vertex AI CustomJob."""

import json
import os
import re

from tfmtl import vertex_job

BATCH_MODULE = "tfmtl.search.run_batch"
REQUEST_LABEL = "tfmtl_request"
_PREEMPTED = re.compile(r"preempt|spot vm|stockout", re.IGNORECASE)
_RUNNING = (
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_PAUSED",
    "JOB_STATE_UPDATING",
    "JOB_STATE_UNSPECIFIED",
)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def container_path(uri):
    """Where the job's container sees `uri`: Vertex AI mounts every bucket
    at `/gcs/<bucket>` (Cloud Storage FUSE); other paths are unchanged."""
    uri = str(uri)
    return "/gcs/" + uri[len("gs://") :] if uri.startswith("gs://") else uri


class VertexBackend:
    """Submits child evaluations as Vertex AI custom jobs.

    Evaluation `i`'s files (what `prepare` wrote) are copied to
    `<output_dir>/samples/<i>/`; its job runs the child's own command with
    its paths rewritten for the container (`container_path`; `path_map`
    maps the driver's other directories, e.g. TAG's run directories, to
    their remote place). With `evals_per_job` above 1 a job runs several
    children one after the other (`tfmtl.search.run_batch`), so the
    start-up of a job is paid once per batch. Results come back from the
    children's result files; `ChildSpec.outputs` are copied back too.

    Args:
        evaluator: A `SubprocessEvaluator` (gives each evaluation's spec).
        client: A `google.cloud.aiplatform_v1.JobServiceClient` (or an
            object with its `create_custom_job` and `get_custom_job`).
        project: Google Cloud project.
        region: Vertex AI region.
        output_dir: Remote root (gs://) of samples, runs and job outputs.
        job_settings: Keyword arguments of `vertex_job.build_custom_job`
            (image_uri, machine_type, accelerator_type, spot...).
        path_map: `{driver path: remote path}` applied to every argument.
        evals_per_job: Evaluations per job.
        max_jobs: Jobs at once.
        name_prefix: Start of the jobs' display names.
        poll_seconds: Seconds between polls of the running jobs.
    """

    kind = "vertex"

    def __init__(
        self,
        evaluator,
        *,
        client,
        project,
        region,
        output_dir,
        job_settings,
        path_map=None,
        evals_per_job=1,
        max_jobs=8,
        name_prefix="tfmtl",
        poll_seconds=30.0,
    ):
        self.evaluator, self.client = evaluator, client
        self.project, self.region = project, region
        self.output_dir = str(output_dir).rstrip("/")
        self.job_settings = dict(job_settings)
        self.path_map = dict(path_map or {})
        self.evals_per_job, self.max_jobs = int(evals_per_job), int(max_jobs)
        if self.evals_per_job < 1 or self.max_jobs < 1:
            raise ValueError("evals_per_job and max_jobs must be >= 1.")
        self.name_prefix, self.poll_seconds = name_prefix, poll_seconds

    @property
    def parent(self):
        return f"projects/{self.project}/locations/{self.region}"

    # ---------------------------------------------------------------- paths
    def sample_uri(self, spec):
        return f"{self.output_dir}/samples/{spec.sample_id}"

    def remote(self, path):
        """The remote place of a driver path (None if it has none)."""
        for local in sorted(self.path_map, key=len, reverse=True):
            if path == local or path.startswith(local.rstrip("/") + "/"):
                return self.path_map[local] + path[len(local) :]
        return None

    def container_argv(self, spec):
        """The child's command line as the job's container runs it."""
        argv = list(spec.argv)
        if argv[1:2] == ["-m"]:
            argv[0] = "python"
        pairs = [(spec.directory, container_path(self.sample_uri(spec)))]
        for local in sorted(self.path_map, key=len, reverse=True):
            pairs.append((local, container_path(self.path_map[local])))
        out = []
        for arg in argv:
            for local, there in pairs:
                arg = arg.replace(local, there)
            out.append(arg)
        return out

    # ----------------------------------------------------------------- jobs
    def display_name(self, specs, attempt):
        ids = [s.sample_id for s in specs]
        span = str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
        return f"{self.name_prefix}-{span}-a{attempt}"[:128]

    def build_job(self, specs, attempt, request=None):
        """The `CustomJob` of `specs` (and the batch file it reads); the
        label `tfmtl_request=<request>` finds it again (`find`)."""
        name = self.display_name(specs, attempt)
        jobs_uri = f"{self.output_dir}/jobs/{name}"
        batch = None
        if len(specs) == 1:
            argv = self.container_argv(specs[0])
            split = 3 if argv[1:2] == ["-m"] else 1
            command, args = argv[:split], argv[split:]
        else:
            batch = [
                {
                    "argv": self.container_argv(s),
                    "result_file": container_path(
                        f"{self.sample_uri(s)}/result.json"
                    ),
                }
                for s in specs
            ]
            command = vertex_job.module_command(BATCH_MODULE)
            args = [f"--batch_file={container_path(jobs_uri)}/batch.json"]
        base = jobs_uri if jobs_uri.startswith("gs://") else None
        settings = dict(self.job_settings)
        if request:
            labels = list(settings.get("labels", ()))
            settings["labels"] = [*labels, (REQUEST_LABEL, request)]
        job = vertex_job.build_custom_job(
            args,
            display_name=name,
            command=command,
            base_output_dir=base,
            **settings,
        )
        return job, batch, jobs_uri

    def accelerators(self):
        """Accelerators a job holds (replicas x count; 0 on CPU)."""
        if not self.job_settings.get("accelerator_type"):
            return 0
        count = self.job_settings.get("accelerator_count", 1)
        return count * self.job_settings.get("replica_count", 1)

    def describe(self, specs):
        """The dry run's lines of one job: a summary and its JSON spec."""
        job, _, _ = self.build_job(specs, 0)
        settings = self.job_settings
        accel = settings.get("accelerator_type") or "no accelerator"
        head = (
            f"job {job.display_name}: {settings.get('machine_type')} "
            f"{accel} x{self.accelerators()} "
            f"{'spot ' if settings.get('spot') else ''}"
            f"evaluations {[s.sample_id for s in specs]}"
        )
        spec = json.dumps(json.loads(vertex_job.to_json(job)))
        return [head, spec], self.accelerators()

    def submit(self, specs, attempt, request=None):
        """Copies the candidates up, creates the job; returns its name."""
        gfile = _gfile()
        job, batch, jobs_uri = self.build_job(specs, attempt, request)
        for spec in specs:
            uri = self.sample_uri(spec)
            gfile.makedirs(uri)
            for name in os.listdir(spec.directory):
                path = os.path.join(spec.directory, name)
                if os.path.isfile(path) and not name.startswith("log-"):
                    gfile.copy(path, f"{uri}/{name}", overwrite=True)
            if gfile.exists(f"{uri}/result.json"):
                gfile.remove(f"{uri}/result.json")
        if batch is not None:
            gfile.makedirs(jobs_uri)
            with gfile.GFile(f"{jobs_uri}/batch.json", "w") as f:
                json.dump(batch, f, indent=1)
        created = self.client.create_custom_job(
            parent=self.parent, custom_job=job
        )
        return created.name

    def find(self, request):
        """The job created for `request` (its label), or None."""
        jobs = self.client.list_custom_jobs(
            parent=self.parent, filter=f'labels.{REQUEST_LABEL}="{request}"'
        )
        names = [job.name for job in jobs]
        return names[0] if names else None

    def attach(self, handle):
        """A job of an earlier driver is polled by its name."""
        return bool(handle)

    def poll(self, handle):
        """`("running"|"succeeded"|"failed"|"preempted", message)`."""
        job = self.client.get_custom_job(name=handle)
        state = type(job.state)(job.state).name
        if state in _RUNNING:
            return "running", ""
        if state == "JOB_STATE_SUCCEEDED":
            return "succeeded", ""
        message = f"{handle} {state}: {job.error.message}"
        if _PREEMPTED.search(job.error.message or ""):
            return "preempted", message
        return "failed", message

    def where(self, handle):
        """What ran the job `handle`, for the final report."""
        s = self.job_settings
        accel = s.get("accelerator_type")
        machine = s.get("machine_type", "n1-standard-8")
        if accel:
            machine += f" + {s.get('accelerator_count', 1)} x {accel}"
        return f"vertex {handle} ({machine}{', spot' if s.get('spot') else ''})"

    def result(self, spec):
        """Copies the result (and `outputs`) back; returns the score."""
        gfile = _gfile()
        uri = f"{self.sample_uri(spec)}/result.json"
        if not gfile.exists(uri):
            raise FileNotFoundError(f"{uri} was not written.")
        gfile.copy(uri, spec.result_file, overwrite=True)
        for path in spec.outputs:
            there = self.remote(path)
            if there and gfile.exists(there):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                gfile.copy(there, path, overwrite=True)
        return self.evaluator.finish(spec)
