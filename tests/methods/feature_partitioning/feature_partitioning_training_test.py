"""The partitioned network through the Controller (synthetic data)."""

import functools

import keras
import numpy as np

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.feature_partitioning import (
    AccuracySampledTask,
    FeaturePartitioning,
    UpdateTaskSampling,
    per_task_optimizers,
)
from tfmtl.trainers import build_controller
from tfmtl.trainers.step_context import StepContext

TASKS = ("attr_a0", "attr_b0")


def _controller(model_dir, schedule, actions=(), partition="independent"):
    source = SyntheticScenes(
        image_size=16, num_train=64, num_validation=16, num_test=16
    )
    sharing = functools.partial(
        FeaturePartitioning,
        TASKS,
        partition,
        widths=(4, 8, 8),
        blocks_per_stage=2,
        freeze_prefix=True,
    )
    sgd = functools.partial(keras.optimizers.SGD, 0.05, momentum=0.9)
    return build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(source, TASKS),
        sharing=sharing,
        optimizers=per_task_optimizers(TASKS, sgd),
        train_data=source,
        global_batch_size=8,
        schedule=schedule,
        actions=actions,
        checkpoint_every=3,
        summary_every=3,
    )


def test_steps_of_one_task_touch_only_its_partition(tmp_path):
    controller = _controller(tmp_path, AccuracySampledTask(tasks=("attr_a0",)))
    trunk = controller.model.sharing.backbone
    before = [np.array(c.kernel) for c in trunk.masked_convs()]
    prefix = [np.array(c.kernel) for c in trunk.prefix_convs()]
    head_b = [np.array(v) for v in controller.model.heads["attr_b0"].weights]
    norm_b = np.array(trunk.stem_norm.norms[1].gamma)
    controller.train(4)
    for conv, old in zip(trunk.masked_convs(), before):
        mask = np.asarray(conv.backward_mask)[0] > 0
        assert mask.sum() == 4  # "independent": half of the 8 filters
        new = np.asarray(conv.kernel)
        np.testing.assert_array_equal(new[..., ~mask], old[..., ~mask])
        assert np.abs(new[..., mask] - old[..., mask]).max() > 0
    for conv, old in zip(trunk.prefix_convs(), prefix):
        np.testing.assert_array_equal(conv.kernel, old)  # frozen
    for v, old in zip(controller.model.heads["attr_b0"].weights, head_b):
        np.testing.assert_array_equal(v, old)
    np.testing.assert_array_equal(trunk.stem_norm.norms[1].gamma, norm_b)
    assert int(controller.optimizers["weights/attr_a0"].iterations) == 4
    assert int(controller.optimizers["weights/attr_b0"].iterations) == 0


def test_accuracy_sampling_trains_evaluates_and_resumes(tmp_path):
    def make():
        return _controller(
            tmp_path,
            AccuracySampledTask(temperature=0.3, bias=0.15),
            [UpdateTaskSampling(TASKS, source="eval")],
        )

    controller = make()
    evaluations = []
    original = controller.evaluate

    def evaluate(steps=None, checkpoint=None):
        evaluations.append(original(steps, checkpoint))
        return evaluations[-1]

    controller.evaluate = evaluate
    controller.train(6, eval_every=3, eval_steps=1)
    # The sampler uses the evaluation at step 3 from step 4 on (the one at
    # step 6 is picked up by the next step).
    assert controller.actions[0].seen_step.numpy() == 3
    accuracies = [evaluations[0][f"metric/{t}/accuracy"] for t in TASKS]
    p = controller.schedule.probabilities()
    expected = (1 - np.array(accuracies) + 0.15) ** (1 / 0.3)
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-6)
    masks = np.array(
        controller.model.sharing.backbone.masked_convs()[0].forward_mask
    )
    kernel = np.array(
        controller.model.sharing.backbone.masked_convs()[0].kernel
    )
    # A new process resumes: masks, weights and sampling state come back.
    resumed = make()
    resumed.restore()
    assert resumed.step == 6
    conv = resumed.model.sharing.backbone.masked_convs()[0]
    np.testing.assert_array_equal(conv.forward_mask, masks)
    np.testing.assert_array_equal(conv.kernel, kernel)
    resumed.train(7)
    np.testing.assert_allclose(resumed.schedule.probabilities(), p)


def test_schedule_probabilities():
    s = AccuracySampledTask().bind(("x", "y"))
    np.testing.assert_allclose(s.probabilities(), [0.5, 0.5])
    s.set_accuracies({"x": 0.9, "y": 0.2})
    p = s.probabilities()
    assert p[1] > 0.9 and abs(p.sum() - 1) < 1e-9
    counts = {"x": 0, "y": 0}
    for step in range(200):
        plan = s(step)
        counts[plan.tasks[0]] += 1
        assert plan.groups == (f"weights/{plan.tasks[0]}",)
    assert counts["y"] > 170
    assert AccuracySampledTask(mode="uniform").bind(("x",))(0).tasks == ("x",)


class _Host:
    """The part of a Controller that the sampling action reads."""

    def __init__(self, schedule):
        self.schedule, self.last_evaluation = schedule, {}


def test_running_training_accuracy_drives_sampling_by_hand():
    tasks = ("x", "y", "z")
    schedule = AccuracySampledTask(bias=0.15, temperature=0.3).bind(tasks)
    action = UpdateTaskSampling(tasks, decay=0.9, every_n_steps=2)
    host = _Host(schedule)
    # Before any measurement every running accuracy is 0: uniform.
    action(1, {}, host)
    np.testing.assert_allclose(schedule.probabilities(), [1 / 3] * 3)
    # Batches of one task each: 6/8 on x, then 2/8 on y, then 7/8 on x.
    for correct, count in (
        ([6, 0, 0], [8, 0, 0]),
        ([0, 2, 0], [0, 8, 0]),
        ([7, 0, 0], [8, 0, 0]),
    ):
        action.record(0, {"correct": correct, "count": count}, host)
    action(2, {}, host)
    d = 0.9**2  # measured every 2nd step
    acc_x = d * 0.75 + (1 - d) * 7 / 8  # first measurement taken as is
    acc_y = d * 0.0 + (1 - d) * 0.25
    acc = np.array([acc_x, acc_y, 0.0])
    np.testing.assert_allclose(action.accuracies.numpy(), acc, rtol=1e-12)
    weight = (1 - acc + 0.15) ** (1 / 0.3)
    np.testing.assert_allclose(
        schedule.probabilities(), weight / weight.sum(), rtol=1e-12
    )
    # The never-trained task z is now the most likely.
    assert np.argmax(schedule.probabilities()) == 2


def test_training_accuracy_probe_counts_the_step_batch(tmp_path):
    action = UpdateTaskSampling(TASKS, decay=0.5)
    controller = _controller(tmp_path, AccuracySampledTask(), [action])
    seen = []
    original = action.record

    def record(step, results, host):
        seen.append({k: np.array(v) for k, v in results.items()})
        original(step, results, host)

    action.record = record
    controller.train(4)
    assert len(seen) == 4
    expected = None
    for r in seen:
        # One task per step: 8 labels of that task, none of the other.
        assert sorted(r["count"].tolist()) == [0.0, 8.0]
        i = int(np.argmax(r["count"]))
        batch = r["correct"][i] / 8
        if expected is None:
            expected = np.zeros(2)
            expected[i] = batch
        else:
            expected[i] = 0.5 * expected[i] + 0.5 * batch
    np.testing.assert_allclose(action.accuracies.numpy(), expected)
    # The probe's counts equal the model's own predictions on that batch.
    trainer, plan = controller.trainer, controller.schedule(0)
    batch = next(iter(controller.streams.iterator(plan.data)))
    result = action.replica_probe(
        StepContext(
            model=trainer.model,
            batch=batch,
            plan=plan,
            tape=None,
            losses=[],
            tasks=trainer.tasks,
            global_batch_size=trainer.global_batch_size,
            optimizers=trainer.optimizers,
            variable_groups=trainer.variable_groups,
        )
    )
    task = plan.tasks[0]
    logits = controller.model(batch["image"], tasks=plan.tasks, training=True)
    hits = np.argmax(np.asarray(logits[task]), -1) == np.asarray(
        batch["labels"][task]
    )
    i = TASKS.index(task)
    assert float(result["correct"][i]) == hits.sum()
    assert float(result["count"][i]) == 8
    # Schedules that ignore accuracies are not probed (no extra forward).
    uniform = _Host(AccuracySampledTask(mode="uniform").bind(TASKS))
    assert action.wants(plan, controller)
    assert not action.wants(plan, uniform)


def test_round_robin_mode():
    s = AccuracySampledTask(mode="round_robin").bind(("x", "y", "z"))
    s.set_accuracies({"x": 1.0, "y": 0.0, "z": 0.5})  # ignored
    assert [s(i).tasks[0] for i in range(5)] == ["x", "y", "z", "x", "y"]


def test_bad_sampling_settings_are_clear_errors():
    import pytest

    with pytest.raises(ValueError, match="source must be"):
        UpdateTaskSampling(TASKS, source="test")
    with pytest.raises(ValueError, match="decay"):
        UpdateTaskSampling(TASKS, decay=1.0)
    with pytest.raises(ValueError, match="mode must be"):
        AccuracySampledTask(mode="fixed")
    with pytest.raises(ValueError, match="before bind"):
        AccuracySampledTask()(0)
