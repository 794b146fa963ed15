"""Actions: NaN guard and early stopping on hand-made logs."""

import pytest

from tfmtl.trainers.actions import (
    EarlyStopping,
    NanGuard,
    StopTraining,
    TrainingDivergedError,
)


class _Checkpoints:
    def latest(self):
        return "/run/ckpt-7"

    def set_aside_after(self, step):
        # The guard moves the checkpoints from `step + 1` on aside and
        # names the newest one left.
        return "/run/ckpt-7"


class _Context:
    checkpoints = _Checkpoints()


def test_nan_guard_names_the_last_checkpoint():
    guard = NanGuard()
    guard(8, {"loss/a": 1.0, "grad_norm": 2.0, "weight/a": float("nan")}, None)
    with pytest.raises(TrainingDivergedError, match="ckpt-7"):
        guard(8, {"loss/a": 1.0, "grad_norm": float("inf")}, _Context())
    with pytest.raises(TrainingDivergedError, match="loss/a"):
        guard(8, {"loss/a": float("nan")}, _Context())


def test_early_stopping_counts_evaluations_without_improvement():
    stop = EarlyStopping("acc", mode="max", patience=2, min_delta=0.01)
    stop(1, {"acc": 0.50}, None)
    stop(2, {"acc": 0.505}, None)  # below min_delta: no improvement
    stop(3, {"acc": 0.60}, None)  # improvement resets the counter
    assert int(stop.bad_evaluations.numpy()) == 0
    stop(4, {"acc": 0.59}, None)
    with pytest.raises(StopTraining, match="has not improved on 0.6"):
        stop(5, {"acc": 0.60}, None)
    with pytest.raises(KeyError, match="available"):
        stop(6, {"loss": 1.0}, None)
