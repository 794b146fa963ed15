"""Distribution strategy and cluster role from the environment.

`make_strategy("auto")` picks `MultiWorkerMirroredStrategy` when `TF_CONFIG`
(or Vertex AI's `CLUSTER_SPEC`) describes several workers,
`MirroredStrategy` when several GPUs are visible, and the default strategy
otherwise. `ClusterInfo` says whether this process is the chief, the one that
writes summaries and exports.
"""

import dataclasses
import json
import os

import tensorflow as tf

_TASK_TYPES = ("chief", "worker", "master")


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """Role of this process in a (possibly single-process) cluster.

    Attributes:
        task_type: "chief", "worker", ... or None when not in a cluster.
        task_id: Index within the task type.
        num_workers: Number of chief + worker processes.
        has_chief: Whether the cluster names a separate chief task.
    """

    task_type: str | None = None
    task_id: int = 0
    num_workers: int = 1
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """True for the process that writes summaries, exports and logs."""
        if self.task_type in (None, "chief", "master"):
            return True
        return (
            self.task_type == "worker"
            and self.task_id == 0
            and not self.has_chief
        )

    @classmethod
    def from_environment(cls, environ=None) -> "ClusterInfo":
        """Reads `TF_CONFIG`, falling back to Vertex AI's `CLUSTER_SPEC`."""
        environ = os.environ if environ is None else environ
        config = _tf_config(environ)
        if not config:
            return cls()
        cluster = config.get("cluster", {})
        task = config.get("task", {})
        num_workers = sum(len(cluster.get(t, [])) for t in _TASK_TYPES)
        return cls(
            task_type=task.get("type"),
            task_id=int(task.get("index", 0)),
            num_workers=max(num_workers, 1),
            has_chief=bool(cluster.get("chief") or cluster.get("master")),
        )


def _tf_config(environ):
    if environ.get("TF_CONFIG"):
        try:
            return json.loads(environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
    if environ.get("CLUSTER_SPEC"):
        # Vertex AI names pools workerpool0..3; pool 0 is the chief.
        spec = json.loads(environ["CLUSTER_SPEC"])
        names = {"workerpool0": "chief", "workerpool1": "worker"}
        cluster = {
            names[k]: v
            for k, v in spec.get("cluster", {}).items()
            if k in names
        }
        task = spec.get("task", {})
        return {
            "cluster": cluster,
            "task": {
                "type": names.get(task.get("type"), task.get("type")),
                "index": task.get("index", 0),
            },
        }
    return None


def make_strategy(kind: str = "auto", devices=None) -> tf.distribute.Strategy:
    """Builds a distribution strategy.

    Must run before TensorFlow executes any op when `kind` is
    "multi_worker" (a collective runtime is set up).

    Args:
        kind: "auto", "default", "mirrored" or "multi_worker".
        devices: Devices for "mirrored" (default: all GPUs, else the CPU).

    Returns:
        The strategy.
    """
    if kind == "auto":
        if ClusterInfo.from_environment().num_workers > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ and "CLUSTER_SPEC" in os.environ:
            os.environ["TF_CONFIG"] = json.dumps(_tf_config(os.environ))
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING
        )
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=options
        )
    raise ValueError(
        f"Unknown strategy {kind!r}; expected auto, default, mirrored or "
        "multi_worker."
    )
