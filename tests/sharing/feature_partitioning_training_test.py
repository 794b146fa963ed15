"""The partitioned network through the Controller (synthetic data)."""

import functools

import keras
import numpy as np

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.sharing.feature_partitioning import (
    AccuracySampledTask,
    FeaturePartitioning,
    UpdateTaskSampling,
    per_task_optimizers,
)
from tfmtl.trainers import Controller

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
    return Controller(
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
            [UpdateTaskSampling(TASKS)],
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
