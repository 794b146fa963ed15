"""Cluster role and strategy choice from TF_CONFIG / Vertex AI CLUSTER_SPEC."""

import json
import os

import pytest
import tensorflow as tf

from tfmtl.trainers import distribute
from tfmtl.trainers.distribute import ClusterInfo, strategy_kind, tf_config

A, B, C = "10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"


def _tf_config(cluster, task_type, index, **extra):
    config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
    return {"TF_CONFIG": json.dumps({**config, **extra})}


def _cluster_spec(pools, task_type, index):
    # The shape Vertex AI gives every replica of a custom job.
    return {
        "CLUSTER_SPEC": json.dumps(
            {
                "cluster": pools,
                "environment": "cloud",
                "task": {"type": task_type, "index": index},
                "job": {"worker_pool_specs": []},
            }
        )
    }


def test_no_cluster_is_a_single_chief():
    info = ClusterInfo.from_environment({})
    assert info == ClusterInfo()
    assert info.is_chief and info.num_workers == 1
    assert tf_config({}) is None
    assert strategy_kind("auto", {}, num_gpus=0) == "default"
    assert strategy_kind("auto", {}, num_gpus=2) == "mirrored"


def test_worker_only_cluster_makes_worker_zero_the_chief():
    cluster = {"worker": [A, B]}
    first = ClusterInfo.from_environment(_tf_config(cluster, "worker", 0))
    second = ClusterInfo.from_environment(_tf_config(cluster, "worker", 1))
    assert first.is_chief and not second.is_chief
    assert (second.task_type, second.task_id) == ("worker", 1)
    assert first.num_workers == second.num_workers == 2
    env = _tf_config(cluster, "worker", 1)
    assert strategy_kind("auto", env, num_gpus=8) == "multi_worker"


def test_vertex_tf_config_with_chief_and_workers():
    cluster = {"chief": [A], "worker": [B, C]}
    extra = {"environment": "cloud", "job": {"display_name": "j"}}
    chief = ClusterInfo.from_environment(_tf_config(cluster, "chief", 0))
    worker = ClusterInfo.from_environment(
        _tf_config(cluster, "worker", 0, **extra)
    )
    assert chief.is_chief and chief.has_chief and chief.num_workers == 3
    # worker 0 is not the chief when the cluster has a chief task.
    assert not worker.is_chief


def test_cluster_spec_pools_map_to_chief_and_workers():
    pools = {
        "workerpool0": [A],
        "workerpool1": [B, C],
        "workerpool2": ["10.0.0.9:2222"],  # reduction server / ps: ignored
    }
    env = _cluster_spec(pools, "workerpool1", 1)
    assert tf_config(env) == {
        "cluster": {"chief": [A], "worker": [B, C]},
        "task": {"type": "worker", "index": 1},
    }
    worker = ClusterInfo.from_environment(env)
    assert (worker.task_type, worker.task_id) == ("worker", 1)
    assert worker.num_workers == 3 and not worker.is_chief
    chief = ClusterInfo.from_environment(_cluster_spec(pools, "workerpool0", 0))
    assert chief.task_type == "chief" and chief.is_chief
    assert strategy_kind("auto", env, num_gpus=0) == "multi_worker"


def test_single_replica_vertex_job_uses_no_collectives():
    env = _cluster_spec({"workerpool0": [A]}, "workerpool0", 0)
    info = ClusterInfo.from_environment(env)
    assert info.is_chief and info.num_workers == 1
    assert strategy_kind("auto", env, num_gpus=1) == "default"


def test_tf_config_wins_over_cluster_spec():
    env = {
        **_tf_config({"worker": [A, B]}, "worker", 1),
        **_cluster_spec({"workerpool0": [C]}, "workerpool0", 0),
    }
    info = ClusterInfo.from_environment(env)
    assert (info.task_type, info.task_id, info.num_workers) == ("worker", 1, 2)


@pytest.mark.parametrize("name", ["TF_CONFIG", "CLUSTER_SPEC"])
def test_invalid_json_names_the_variable(name):
    with pytest.raises(ValueError, match=f"{name} is not valid JSON"):
        ClusterInfo.from_environment({name: "{not json"})


def test_explicit_and_unknown_strategies():
    env = _tf_config({"worker": [A, B]}, "worker", 0)
    assert strategy_kind("default", env) == "default"
    assert strategy_kind("mirrored", {}) == "mirrored"
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        strategy_kind("tpu", {})
    with pytest.raises(ValueError, match="Unknown strategy"):
        distribute.make_strategy("parameter_server")


def test_make_strategy_default_outside_a_cluster(monkeypatch):
    for name in ("TF_CONFIG", "CLUSTER_SPEC"):
        monkeypatch.delenv(name, raising=False)
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()


def test_multi_worker_strategy_gets_tf_config_from_cluster_spec(monkeypatch):
    # MultiWorkerMirroredStrategy reads TF_CONFIG only; inside a Vertex AI job
    # that sets CLUSTER_SPEC alone it must be derived before construction.
    # (A real one cannot be built here: TensorFlow has already started.)
    seen = {}

    class FakeStrategy:
        def __init__(self, communication_options):
            seen["tf_config"] = json.loads(os.environ["TF_CONFIG"])
            seen["options"] = communication_options

    monkeypatch.delenv("TF_CONFIG", raising=False)
    pools = {"workerpool0": [A], "workerpool1": [B]}
    env = _cluster_spec(pools, "workerpool1", 0)
    monkeypatch.setenv("CLUSTER_SPEC", env["CLUSTER_SPEC"])
    monkeypatch.setattr(
        tf.distribute, "MultiWorkerMirroredStrategy", FakeStrategy
    )
    assert isinstance(distribute.make_strategy("auto"), FakeStrategy)
    assert seen["tf_config"] == {
        "cluster": {"chief": [A], "worker": [B]},
        "task": {"type": "worker", "index": 0},
    }
    ring = tf.distribute.experimental.CommunicationImplementation.RING
    assert seen["options"].implementation == ring
