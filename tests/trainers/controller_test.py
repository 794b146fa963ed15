"""Controller: training, resuming, distribution, summaries, actions, export."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator as ea

from tfmtl import tasks as tasks_lib
from tfmtl.testing import tiny_problem
from tfmtl.trainers import (
    Action,
    EarlyStopping,
    ExportBest,
    SampledTask,
    TrainingDivergedError,
    build_controller,
)


@pytest.fixture
def mirrored(mirrored_strategy):
    return mirrored_strategy


def _controller(model_dir, strategy=None, problem=None, **kwargs):
    problem = problem or tiny_problem()
    kwargs.setdefault("summary_every", 2)
    kwargs.setdefault("checkpoint_every", 2)
    return build_controller(
        model_dir=str(model_dir), strategy=strategy, **problem, **kwargs
    )


def _weights(controller):
    return [np.array(v) for v in controller.model.weights]


class _Record(Action):
    """Keeps the training objective of every step."""

    def __init__(self):
        super().__init__(every_n_steps=1)
        self.values = []

    def __call__(self, step, logs, controller):
        self.values.append(logs["loss/objective"])


def test_loss_decreases(tmp_path):
    record = _Record()
    controller = _controller(tmp_path, actions=[record])
    controller.train(30)
    assert len(record.values) == 30
    first, last = np.mean(record.values[:5]), np.mean(record.values[-5:])
    assert last < 0.7 * first, record.values


def test_resume_restores_step_weights_slots_and_data_position(tmp_path):
    first = _controller(tmp_path)
    first.train(4)
    second = _controller(tmp_path)
    assert second.restore() is not None
    assert second.step == 4
    assert int(second.data_positions["train"].numpy()) == 4
    for a, b in zip(_weights(first), _weights(second)):
        np.testing.assert_array_equal(a, b)
    slots_a = [np.array(v) for v in first.optimizers["weights"].variables]
    slots_b = [np.array(v) for v in second.optimizers["weights"].variables]
    assert len(slots_a) > 2
    for a, b in zip(slots_a, slots_b):
        np.testing.assert_array_equal(a, b)


def test_interrupted_run_matches_uninterrupted(tmp_path):
    straight = _controller(tmp_path / "a")
    straight.train(6)
    interrupted = _controller(tmp_path / "b")
    interrupted.train(3)
    resumed = _controller(tmp_path / "b")
    resumed.train(6)
    assert resumed.step == 6
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@keras.saving.register_keras_serializable(package="tfmtl_test")
class _LayerNorm(keras.layers.LayerNormalization):
    """Per-example normalisation: replica-independent, unlike BatchNorm."""

    def __init__(self, momentum=None, **kwargs):
        del momentum
        super().__init__(**kwargs)


def test_mirrored_two_replicas_match_one_device(tmp_path, mirrored):
    # Per-example normalisation makes the two-replica step mathematically the
    # one-device step, so the match must be exact up to float rounding.
    problem = dict(
        tasks=("attr_a0", "attr_b0"), norm=_LayerNorm, learning_rate=0.1
    )
    single = _controller(tmp_path / "one", problem=tiny_problem(**problem))
    single.train(2)
    two = _controller(
        tmp_path / "two", strategy=mirrored, problem=tiny_problem(**problem)
    )
    assert two.strategy.num_replicas_in_sync == 2
    two.train(2)
    for a, b in zip(_weights(single), _weights(two)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_mirrored_batch_norm_statistics_are_synchronized(tmp_path, mirrored):
    strategy = mirrored
    controller = _controller(tmp_path, strategy=strategy)
    controller.train(2)
    moving = [v for v in controller.model.weights if "moving_mean" in v.path]
    assert moving
    for variable in moving:
        first, second = strategy.experimental_local_results(variable.value)
        np.testing.assert_allclose(first, second, atol=1e-6)
        assert np.any(np.asarray(first) != 0.0)


def _tags(run_dir):
    acc = ea.EventAccumulator(
        run_dir, size_guidance={ea.TENSORS: 0, ea.IMAGES: 0}
    )
    acc.Reload()
    return set(acc.Tags()["tensors"]) | set(acc.Tags()["images"])


def test_tensorboard_summaries(tmp_path):
    controller = _controller(
        tmp_path,
        hparams={"lr": 0.05, "backbone": "resnet18"},
        config_text="LEARNING_RATE = 0.05",
    )
    controller.train_and_evaluate(4, eval_every=2, eval_steps=1)
    train = _tags(os.path.join(tmp_path, "train"))
    names = controller.task_names
    expected = {f"loss/{t}" for t in names} | {f"weight/{t}" for t in names}
    expected |= {
        "loss/objective",
        "lr/weights",
        "throughput/examples_per_second",
        "config/gin",
        "_hparams_/session_start_info",
    }
    assert expected <= train, expected - train
    evaluation = _tags(os.path.join(tmp_path, "eval"))
    expected = {
        "loss/total",
        "metric/segmentation/miou",
        "metric/depth/abs_err",
        "metric/attr_a0/accuracy",
        "dense/segmentation",
        "dense/depth",
    }
    assert expected <= evaluation, expected - evaluation


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    controller = _controller(
        tmp_path, problem=tiny_problem(learning_rate=1e12), checkpoint_every=1
    )
    with pytest.raises(TrainingDivergedError, match="Non-finite loss"):
        controller.train(50)
    # The bad loss of the last step was computed on the weights saved one
    # step before: that checkpoint is set aside, not left as the latest.
    stopped = controller.step
    assert (tmp_path / "diverged" / f"ckpt-{stopped - 1}.index").exists()
    latest = controller.latest_checkpoint()
    if latest is not None:
        assert int(latest.rsplit("-", 1)[1]) <= stopped - 2
        reader = tf.train.load_checkpoint(latest)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if np.issubdtype(np.asarray(value).dtype, np.floating):
                assert np.all(np.isfinite(value)), name


def test_early_stopping_and_export_best(tmp_path):
    stop = EarlyStopping("loss/total", patience=1, min_delta=1e9)
    best = ExportBest("loss/total")
    controller = _controller(tmp_path, actions=[stop, best])
    controller.train(100, eval_every=2, eval_steps=1)
    # The first evaluation sets the best value; the second cannot improve by
    # 1e9, so training stops at step 4.
    assert controller.step == 4
    assert os.path.exists(os.path.join(tmp_path, "best", "best.json"))
    # The patience counter is checkpointed.
    resumed = _controller(tmp_path, actions=[EarlyStopping(patience=1)])
    resumed.restore()
    assert int(resumed.actions[0].bad_evaluations.numpy()) == 1


def test_export_saved_model_and_keras(tmp_path):
    controller = _controller(tmp_path)
    controller.train(2)
    export_dir = controller.export()
    images = tf.random.uniform((2, 16, 16, 3), seed=1)
    expected = controller.model(images, training=False)
    served = tf.saved_model.load(os.path.join(export_dir, "saved_model"))
    outputs = served.serve(images)
    reloaded = keras.saving.load_model(os.path.join(export_dir, "model.keras"))
    again = reloaded(images, training=False)
    for task in controller.task_names:
        np.testing.assert_allclose(outputs[task], expected[task], atol=1e-5)
        np.testing.assert_allclose(again[task], expected[task], atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains(tmp_path, policy):
    controller = _controller(tmp_path, mixed_precision=policy)
    logs = controller.train(3)
    assert np.isfinite(logs["loss/objective"])
    assert controller.model.sharing.backbone.compute_dtype != "float32"


def test_sampled_schedule_updates_only_the_sampled_head(tmp_path):
    schedule = SampledTask(seed=3)
    controller = _controller(tmp_path, schedule=schedule)
    plan = controller.schedule(0)
    (task,) = plan.tasks
    heads = {
        t: [np.array(v) for v in h.weights]
        for t, h in controller.model.heads.items()
    }
    controller.train(1)
    for name, head in controller.model.heads.items():
        changed = any(
            not np.array_equal(a, np.array(b))
            for a, b in zip(heads[name], head.weights)
        )
        assert changed == (name == task), name


def test_bad_configuration_errors(tmp_path):
    problem = tiny_problem()
    with pytest.raises(ValueError, match="No optimizer for variable groups"):
        _controller(tmp_path, problem={**problem, "optimizers": {}})
    bad_tasks = tasks_lib.build_tasks(
        ["segmentation", "depth"],
        kinds={"depth": "normals"},
        num_classes={"segmentation": 4},
    )
    with pytest.raises(ValueError, match="labels of shape"):
        _controller(tmp_path, problem={**problem, "tasks": bad_tasks})


def test_event_files_only_under_model_dir(tmp_path):
    controller = _controller(tmp_path)
    controller.train(2)
    files = glob.glob(os.path.join(tmp_path, "**", "events.*"), recursive=True)
    assert files and all(f.startswith(str(tmp_path)) for f in files)


def test_graddrop_transforms_shared_gradients_only(tmp_path):
    from tfmtl.weighting import GradDrop

    class Spy(GradDrop):
        calls = 0

        def transform_gradients(self, per_task_grads):
            Spy.calls += 1
            return super().transform_gradients(per_task_grads)

    controller = _controller(tmp_path, weighting=lambda: Spy(seed=1))
    heads = {
        t: [np.array(v) for v in h.weights]
        for t, h in controller.model.heads.items()
    }
    logs = controller.train(2)
    assert Spy.calls == 1  # traced once, used on both steps
    assert np.isfinite(logs["grad_norm"])
    for name, head in controller.model.heads.items():
        assert any(
            not np.array_equal(a, np.array(b))
            for a, b in zip(heads[name], head.weights)
        )
