"""AdaShare's weight-phase SGD keeps its momentum across phases."""

import os
import types

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfmtl.methods.adashare import SGDL2, AdaShareCurriculum

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
BENCHMARKS = (
    "nyu_v2_2task",
    "nyu_v2_3task",
    "cityscapes_2task",
    "taskonomy_5task",
)


def _curriculum_of(name):
    """The AdaShareCurriculum the benchmark config builds."""
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, f"gin_configs/adashare/{name}.gin")],
            ["DATA_DIR = '/nowhere'", "MODEL_DIR = '/nowhere'"],
        )
        return AdaShareCurriculum(**gin.get_bindings(AdaShareCurriculum))
    finally:
        gin.clear_config()


def _context(schedule, optimizer):
    sharing = types.SimpleNamespace(
        num_blocks=8,
        temperature=tf.Variable(5.0),
        num_train_layers=tf.Variable(0),
    )
    return types.SimpleNamespace(
        model=types.SimpleNamespace(sharing=sharing),
        schedule=schedule,
        optimizers={"alternate": optimizer, "alternate/a": optimizer},
    )


def _torch_sgd(w, grads, lr, momentum, l2):
    """PyTorch's SGD(momentum, weight_decay=l2), one buffer for all steps."""
    buf = None
    for g in grads:
        g = g + l2 * w
        buf = g if buf is None else momentum * buf + g
        w = w - lr * buf
    return w


@pytest.mark.parametrize("name", BENCHMARKS)
def test_weight_phases_carry_sgd_momentum_over_as_the_reference(name):
    """The reference builds its weight SGD once and never rebuilds it.

    Reference: `train.py` of sunxm2357/AdaShare calls
    `environ.define_optimizer(policy_learning=True)` once, under
    `flag_warmup`, before the first weight phase; `fix_w` / `free_w` only
    toggle `requires_grad`, so the SGD momentum buffer of one weight phase
    is the one the next phase starts from (`envs/blockdrop_env.py`,
    `backward_network`). Two weight phases of the config's curriculum (the
    policy phase between them does not touch the weights) must give the
    float64 PyTorch SGD with a single momentum buffer.
    """
    curriculum = _curriculum_of(name)
    warmup, cycle = curriculum.warmup_steps, curriculum.cycle_steps
    groups = types.SimpleNamespace(groups=("alternate", "alternate/a"))
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(6)]
    var = tf.Variable(w0, dtype=tf.float64)
    sgd = SGDL2(l2=1e-4, learning_rate=0.1, momentum=0.9)
    context = _context(lambda step: groups, sgd)
    # Weight phase 0 (first 3 of its steps), then weight phase 1 begins.
    for i, step in enumerate([warmup, warmup + 1, warmup + 2]):
        curriculum(step, {}, context)
        sgd.apply_gradients([(tf.constant(grads[i]), var)])
    for i, step in enumerate([warmup + cycle, warmup + cycle + 1]):
        curriculum(step, {}, context)
        sgd.apply_gradients([(tf.constant(grads[3 + i]), var)])
    expected = _torch_sgd(w0, grads[:5], 0.1, 0.9, 1e-4)
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6)


def test_reset_option_still_zeroes_the_momentum_at_a_phase_start():
    # The opt-in deviation: momentum zeroed before the next phase's step.
    curriculum = AdaShareCurriculum(
        warmup_steps=4, cycle_steps=6, reset_weight_momentum=True
    )
    var = tf.Variable(np.ones(3))
    sgd = SGDL2(l2=0.0, learning_rate=0.1, momentum=0.9)
    groups = types.SimpleNamespace(groups=("alternate",))
    context = _context(lambda step: groups, sgd)
    sgd.apply_gradients([(tf.constant(np.ones(3)), var)])
    curriculum(5, {}, context)  # inside a phase: kept
    assert np.abs(sgd.momentums[0].numpy()).max() > 0
    curriculum(10, {}, context)  # a phase start: zeroed
    np.testing.assert_array_equal(sgd.momentums[0].numpy(), 0.0)
