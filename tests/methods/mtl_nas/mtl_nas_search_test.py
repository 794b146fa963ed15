"""End-to-end MTL-NAS search: alternating halves, entropy, connectivity."""

import json
import os

import keras
import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea

from tfmtl import tasks as tasks_lib
from tfmtl.data import SplitHalves, SyntheticScenes
from tfmtl.methods.mtl_nas import (
    MTLNAS,
    ArchitectureSchedule,
    ConnectivitySummary,
)
from tfmtl.testing import TinyStagedBackbone
from tfmtl.trainers import Action, Alternating, Plan, build_controller

NAMES = ("segmentation", "normals")


class _Objectives(Action):
    def __init__(self):
        super().__init__(every_n_steps=1)
        self.objectives = []

    def __call__(self, step, logs, context):
        self.objectives.append(logs["loss/objective"])


def _search(model_dir, steps, strategy=None, entropy_weight=10.0):
    source = SplitHalves(
        SyntheticScenes(
            image_size=16, num_train=32, num_validation=8, num_test=8
        )
    )
    schedule = Alternating(
        [
            (Plan(NAMES, ("weights", "fusion"), "train1"), 1),
            (Plan(NAMES, ("arch",), "train2"), 1),
        ]
    )
    phases = _Objectives()
    controller = build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(source, NAMES),
        sharing=lambda: MTLNAS(TinyStagedBackbone, tasks=NAMES),
        optimizers={
            "weights": lambda: keras.optimizers.SGD(0.02, momentum=0.9),
            "fusion": lambda: keras.optimizers.SGD(0.2, momentum=0.9),
            "arch": lambda: keras.optimizers.Adam(0.5, beta_1=0.5),
        },
        train_data=source,
        global_batch_size=4,
        schedule=schedule,
        train_splits={"train1": "train1", "train2": "train2"},
        actions=[
            ArchitectureSchedule(steps, entropy_weight=entropy_weight),
            ConnectivitySummary(),
            phases,
        ],
        strategy=strategy,
        summary_every=10,
        checkpoint_every=1000,
    )
    controller.train(steps)
    return controller, phases


def test_search_alternates_and_entropy_makes_gates_discrete(tmp_path):
    controller, phases = _search(tmp_path, 20)
    nas = controller.model.sharing
    assert controller.optimizers["arch"].iterations.numpy() == 10
    assert controller.optimizers["weights"].iterations.numpy() == 10
    assert controller.optimizers["fusion"].iterations.numpy() == 10
    assert all(np.isfinite(phases.objectives))
    gates = 1 / (1 + np.exp(-nas.alpha.numpy()))
    assert np.mean(np.minimum(gates, 1 - gates)) < 0.05, gates
    assert float(nas.entropy()) < 0.2  # log(2) = 0.69 at the start
    np.testing.assert_allclose(nas.temperature.numpy(), 0.05)

    results = controller.evaluate(1)
    assert "metric/normals/mean_angle" in results
    with open(os.path.join(tmp_path, "architecture.json")) as f:
        arch = json.load(f)
    assert arch["step"] == 20 and len(arch["edges"]) == 12
    kept = sum(e["keep"] for e in arch["edges"])
    assert kept == int(np.sum(nas.alpha.numpy() > 0))
    assert os.path.getsize(os.path.join(tmp_path, "connectivity.png")) > 100
    acc = ea.EventAccumulator(
        os.path.join(tmp_path, "eval"), size_guidance={ea.TENSORS: 0}
    )
    acc.Reload()
    tags = acc.Tags()["tensors"]
    assert "dense/architecture/connectivity" in tags
    assert "architecture/kept_edges" in tags
