"""The training loop's log: windowed means, write cadence, rates."""

import keras
import pytest

from tfmtl.trainers.train_log import TrainLog


class RecordingWriters:
    def __init__(self):
        self.written = []

    def scalars(self, name, values, step):
        self.written.append((name, step, dict(values)))


def _log(every=2, total_steps=5, first_step=0):
    writers = RecordingWriters()
    optimizers = {"weights": keras.optimizers.SGD(0.25)}
    log = TrainLog(writers, optimizers, 8, total_steps, first_step, every)
    return log, writers


def test_window_means():
    log, _ = _log(every=100)
    log.add(1, {"a": 1.0})
    log.add(2, {"a": 3.0})
    assert log.mean() == {"a": 2.0} and log.count == 2


def test_window_averages_each_key_over_its_own_steps():
    # One task per step (round robin): b's mean is not diluted by a's steps.
    log, _ = _log(every=100)
    log.add(1, {"loss/a": 1.0, "lr": 0.1})
    log.add(2, {"loss/b": 4.0, "lr": 0.3})
    log.add(3, {"loss/a": 3.0, "lr": 0.2})
    assert log.mean() == pytest.approx(
        {"loss/a": 2.0, "loss/b": 4.0, "lr": 0.2}
    )


def test_writes_every_n_steps_and_at_the_last_step_then_resets():
    log, writers = _log(every=2, total_steps=5)
    for step in range(1, 6):
        log.add(step, {"loss/a": float(step)})
    assert [step for _, step, _ in writers.written] == [2, 4, 5]
    means = [values["loss/a"] for _, _, values in writers.written]
    assert means == [1.5, 3.5, 5.0]  # each window only its own steps
    for name, _, values in writers.written:
        assert name == "train"
        assert values["lr/weights"] == pytest.approx(0.25)
        assert values["throughput/examples_per_second"] > 0
    assert log.count == 0
