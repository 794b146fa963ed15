"""The sequential TAPS configs keep the best-on-test checkpoint.

Reference: `train_sequential.py` (main loop) in
github.com/MattWallingford/TAPS saves `model_best.pth` whenever
`val_err <= best` after an epoch's evaluation, so of two equal errors the
later epoch is kept; `train_joint.py` keeps no best checkpoint.
"""

import pytest

from tests.methods.taps.gin_macros import macro_value
from tfmtl.trainers.actions import ExportBest


def _config_actions(gin_file, bindings):
    return macro_value(f"gin_configs/taps/{gin_file}", bindings, "ACTIONS")


@pytest.mark.parametrize(
    "gin_file, bindings",
    [
        ("domainnet_resnet34.gin", ["DOMAINNET_ROOT = '/unused'"]),
        ("imagenet_to_sketch_resnet50.gin", ["DATASET_DIR = '/unused'"]),
    ],
)
def test_sequential_configs_keep_the_later_of_equal_test_errors(
    gin_file, bindings
):
    best = [
        a
        for a in _config_actions(gin_file, bindings)
        if isinstance(a, ExportBest)
    ]
    assert len(best) == 1, gin_file
    assert (best[0].metric, best[0].mode, best[0].ties) == (
        "metric/{task}/error",
        "min",
        "later",
    )


def test_joint_config_keeps_no_best_checkpoint():
    actions = _config_actions(
        "domainnet_joint_resnet34.gin", ["DOMAINNET_ROOT = '/unused'"]
    )
    assert not any(isinstance(a, ExportBest) for a in actions)
