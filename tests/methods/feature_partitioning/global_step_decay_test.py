"""Per-task optimizers drop their learning rate at the global step.

The reference (google/multi-task-architecture-search, `main.py::train`)
divides `opt.learning_rate` by `drop_lr_factor` after the training step
whose global step is listed in `drop_learning_rate`, and sets it on every
optimizer at once, whichever task each step trained.
"""

import functools
import os

import gin
import keras
import numpy as np
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods import feature_partitioning as fp
from tfmtl.trainers import build_controller
from tfmtl.trainers.run_context import RunContext

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


def _reference_rates(num_steps, lr, drops, factor=10.0):
    """`main.py::train`: the rate each global step trains with (float64)."""
    rates = np.zeros(num_steps)
    for global_step in range(num_steps):
        rates[global_step] = lr
        if global_step in drops:  # dropped after this step's update
            lr = lr / factor
    return rates


def test_rates_follow_the_global_step_under_skewed_sampling():
    # Curriculum-like task probabilities from 0.5 % to 33 % over 9 tasks.
    probs = np.array([0.5, 1, 2, 4, 8, 12, 18, 21.5, 33]) / 100
    rng = np.random.default_rng(0)
    steps, drop = 120, 80
    order = rng.choice(9, size=steps, p=probs / probs.sum())
    step = tf.Variable(0, dtype=tf.int64)
    variables = [tf.Variable(0.0, dtype=tf.float64) for _ in range(9)]
    optimizers = [
        keras.optimizers.SGD(fp.GlobalStepDecay([drop], [1.0, 0.1], step))
        for _ in range(9)
    ]
    for g, t in enumerate(order):
        step.assign(g)
        one = tf.ones((), tf.float64)
        optimizers[t].apply_gradients([(one, variables[t])])
    rates = _reference_rates(steps, 1.0, {drop})
    for t in range(9):
        # Unit gradients: each variable moved by minus the rates it saw.
        expected = -rates[order == t].sum()
        np.testing.assert_allclose(float(variables[t]), expected, rtol=1e-6)
        # Afterwards every optimizer is at the dropped rate, also those
        # that took far fewer than `drop` steps themselves.
        assert int(optimizers[t].iterations) == (order == t).sum() < drop
        np.testing.assert_allclose(float(optimizers[t].learning_rate), 0.1)


def test_unbound_schedule_is_a_clear_error():
    lr = fp.GlobalStepDecay([10], [1.0, 0.1])
    try:
        lr(0)
    except RuntimeError as error:
        assert "BindGlobalStep" in str(error)
    else:
        raise AssertionError("an unbound GlobalStepDecay must not run")


def _run_context(optimizers):
    """The `RunContext` `BindGlobalStep.bind` reads (optimizers, step)."""
    none = dict.fromkeys(
        [
            "model",
            "schedule",
            "writer",
            "image_shape",
            "train_data",
            "checkpoints_fn",
            "evaluator",
            "step_fn",
            "evaluation_fn",
            "evaluate_fn",
            "export_fn",
        ]
    )
    return RunContext(
        tasks=(),
        optimizers=optimizers,
        model_dir="",
        is_chief=True,
        train_splits={},
        global_step=tf.Variable(0, dtype=tf.int64),
        **none,
    )


def test_partitioned_gin_drops_every_optimizer_at_global_step_150k():
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            ["gin_configs/feature_partitioning/partitioned.gin"],
            ["MODEL_DIR = 'unused'"],
            finalize_config=False,
        )
        factories = gin.get_configurable(fp.per_task_optimizers)()
        run = _run_context({g: f() for g, f in factories.items()})
        actions = gin.query_parameter("%ACTIONS")
        assert any("BindGlobalStep" in str(a) for a in actions), actions
    finally:
        gin.clear_config()
    fp.BindGlobalStep(required=True).bind(run)
    assert len(run.optimizers) == 10  # the heads' group and 9 tasks
    rates = _reference_rates(150002, 0.05, {150000})
    for g in (0, 150000, 150001):
        run.global_step.assign(g)
        for optimizer in run.optimizers.values():
            # No optimizer has taken a step of its own.
            assert int(optimizer.iterations) == 0
            np.testing.assert_allclose(
                float(optimizer.learning_rate), rates[g], rtol=1e-6
            )


def test_controller_binds_its_global_step(tmp_path):
    tasks = ("attr_a0", "attr_b0")
    source = SyntheticScenes(
        image_size=16, num_train=64, num_validation=16, num_test=16
    )

    def make():
        sgd = functools.partial(
            keras.optimizers.SGD, fp.GlobalStepDecay([3], [0.05, 0.005])
        )
        return build_controller(
            model_dir=str(tmp_path),
            tasks=tasks_lib.tasks_for(source, tasks),
            sharing=functools.partial(
                fp.FeaturePartitioning,
                tasks,
                "independent",
                widths=(4, 8, 8),
                blocks_per_stage=1,
            ),
            optimizers=fp.per_task_optimizers(tasks, sgd),
            train_data=source,
            global_batch_size=8,
            schedule=fp.AccuracySampledTask(tasks=("attr_a0",)),
            actions=[fp.BindGlobalStep(required=True)],
            checkpoint_every=2,
        )

    controller = make()
    controller.train(2)
    for optimizer in controller.optimizers.values():
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.05)
    resumed = make()
    resumed.train(4)  # restores step 2, trains global steps 2 and 3
    a, b = (resumed.optimizers[f"weights/{t}"] for t in tasks)
    assert int(a.iterations) == 4 and int(b.iterations) == 0
    for optimizer in resumed.optimizers.values():
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.005)
