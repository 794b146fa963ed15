"""Issue #17 item 1b: what a resume takes from the checkpoint and what from
the configuration, and a NaN guard whose advice works when followed.

On resume the configured learning rate wins over the stored optimizer
variable; slots, iterations and the step come from the checkpoint. The
guard stops on non-finite values and on loss spikes, and leaves a latest
checkpoint from before the divergence, so "lower the learning rate and
resume" resumes from good weights and trains to the end.
"""

import os
import types

import numpy as np
import pytest

from tfmtl.testing import tiny_problem
from tfmtl.trainers import Action, NanGuard, TrainingDivergedError


def test_configured_learning_rate_wins_over_the_stored_one(tmp_path, make_run):
    first = make_run(tmp_path, problem=tiny_problem(learning_rate=0.05))
    first.train(2)
    stored = [np.array(v) for v in first.optimizers["weights"].variables]
    second = make_run(tmp_path, problem=tiny_problem(learning_rate=1e-4))
    second.restore()
    optimizer = second.optimizers["weights"]
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)
    assert int(optimizer.iterations) == 2 and second.step == 2
    # Everything else of the optimizer (slots, iterations) is the stored.
    for variable, value in zip(optimizer.variables, stored):
        if variable.name != "learning_rate":
            np.testing.assert_array_equal(np.array(variable), value)


class _Losses(Action):
    def __init__(self):
        super().__init__(every_n_steps=1)
        self.values = []

    def __call__(self, step, logs, context):
        self.values.append(logs["loss/objective"])


def test_nan_guard_advice_works_when_followed(tmp_path, make_run):
    diverging = make_run(
        tmp_path, problem=tiny_problem(learning_rate=1e12), checkpoint_every=1
    )
    with pytest.raises(TrainingDivergedError) as error:
        diverging.train(50)
    stopped = diverging.step
    message = str(error.value)
    assert "Lower the learning rate" in message
    latest = diverging.latest_checkpoint()
    # The step `stopped` loss was computed on the weights of ckpt-(stopped-1):
    # that one and newer are set aside, never resumed from.
    if latest is not None:
        assert int(latest.rsplit("-", 1)[1]) <= stopped - 2
        assert latest in message
    assert stopped >= 2  # so that a checkpoint had been written
    assert os.path.exists(tmp_path / "diverged" / f"ckpt-{stopped - 1}.index")

    # Following the advice: the same run, a sane learning rate, resume.
    losses = _Losses()
    resumed = make_run(
        tmp_path, problem=tiny_problem(learning_rate=0.05), actions=[losses]
    )
    logs = resumed.train(stopped + 4)
    assert resumed.step == stopped + 4
    assert float(resumed.optimizers["weights"].learning_rate) == pytest.approx(
        0.05
    )
    assert np.all(np.isfinite(losses.values)) and np.isfinite(
        logs["loss/objective"]
    )


class _Checkpoints:
    def __init__(self):
        self.set_aside = []

    def set_aside_after(self, step):
        self.set_aside.append(step)
        return f"ckpt-{step}"


def _feed(guard, values, key="loss/depth"):
    context = types.SimpleNamespace(checkpoints=_Checkpoints())
    for step, value in enumerate(values, start=1):
        guard(step, {key: value, "loss/objective": 1.0}, context)
    return context.checkpoints.set_aside


def test_spike_above_factor_times_running_median_stops():
    normal = list(np.linspace(1.0, 2.0, 30))  # median 1.5
    assert _feed(NanGuard(), normal + [149.0]) == []
    with pytest.raises(
        TrainingDivergedError, match="Loss spike at step 31"
    ) as e:
        _feed(NanGuard(), normal + [151.0])
    assert "'loss/depth': 151.0" in str(e.value)
    assert "last good checkpoint: ckpt-29" in str(e.value)


def test_spike_factor_window_and_warmup_are_configurable():
    normal = [1.0] * 30
    assert _feed(NanGuard(spike_factor=1000.0), normal + [500.0]) == []
    assert _feed(NanGuard(spike_factor=None), normal + [1e30]) == []
    # Before `warmup` values there is no median to compare with.
    assert _feed(NanGuard(warmup=40), normal + [500.0]) == []
    with pytest.raises(TrainingDivergedError, match="spike"):
        _feed(NanGuard(spike_factor=10.0), normal + [11.0])
    # The median follows the last `window` values only.
    with pytest.raises(TrainingDivergedError, match="spike"):
        _feed(NanGuard(window=5, warmup=5), [100.0] * 20 + [1.0] * 5 + [150.0])


def test_non_finite_values_stop_even_during_warmup():
    with pytest.raises(
        TrainingDivergedError, match="Non-finite loss at step 2"
    ):
        _feed(NanGuard(), [1.0, float("nan")])
