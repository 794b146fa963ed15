"""The CelebA TAG configs: the colab's lr rule and UW baseline."""

import os

import gin
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def test_celeba_learning_rate_follows_the_colab_epoch_rule():
    """Issue #15 item 19: google-research `tag/celeba/CelebA.ipynb`,
    `decay_lr(step, optimizer)` runs at the start of epoch `step` (0-based)
    and halves the rate when (step + 1) % 15 == 0, so epoch e trains at
    5e-4 / 2 ** floor((e + 1) / 15): halved from epochs 14, 29, 44, ...
    Checked in float64 at the first and last update of each of 100 epochs
    (Keras calls the schedule with the updates done so far)."""
    import keras

    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, "gin_configs/tag/celeba_tag.gin")],
            ["MODEL_DIR = '/unused'"],
        )
        spe = gin.query_parameter("%STEPS_PER_EPOCH")
        name = "keras.optimizers.schedules.PiecewiseConstantDecay"
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            gin.query_parameter(f"{name}.boundaries"),
            gin.query_parameter(f"{name}.values"),
        )
    finally:
        gin.clear_config()
    for epoch in range(100):
        want = np.float64(5e-4) / np.float64(2.0) ** ((epoch + 1) // 15)
        for step in (epoch * spe, (epoch + 1) * spe - 1):
            got = float(schedule(step))
            assert abs(got - want) <= 1e-6 * want, (epoch, step, got, want)


def test_celeba_uw_baseline_is_the_colab_clamped_uw():
    """google-research `tag/celeba/CelebA.ipynb`, `train_uncertainty_step`:
    u starts at 1.0, is clipped to [0.01, 10] and weighs L by exp(-2 u);
    the baseline trains without TAG's lookahead."""
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, "gin_configs/tag/celeba_uw.gin")],
            ["MODEL_DIR = '/unused'"],
        )
        name = "tfmtl.weighting.UncertaintyWeighting"
        got = {
            k: gin.query_parameter(f"{name}.{k}")
            for k in ("initial_log_variance", "weight_exponent", "clip")
        }
        enabled = gin.query_parameter("%AFFINITY_ENABLED")
    finally:
        gin.clear_config()
    assert got == {
        "initial_log_variance": 1.0,
        "weight_exponent": 2.0,
        "clip": (0.01, 10.0),
    }
    assert enabled is False


def test_celeba_pcgrad_baseline_is_the_colab_pcgrad_uw():
    """google-research `tag/celeba/CelebA.ipynb`, `train_pcgrad_step`: the
    PCGrad baseline scales each loss by the clamped UW weight and projects
    the scaled trunk gradients in task order, self included (the float64
    check of the update is in tests/weighting/composed_weighting_test.py);
    no lookahead recorder."""
    from tfmtl import weighting

    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, "gin_configs/tag/celeba_pcgrad_uw.gin")],
            ["MODEL_DIR = '/unused'"],
        )
        layer = gin.query_parameter("%WEIGHTING").scoped_configurable_fn()
        enabled = gin.query_parameter("%AFFINITY_ENABLED")
    finally:
        gin.clear_config()
    assert isinstance(layer, weighting.ComposedWeighting)
    uw, pc = layer.loss_weighting, layer.gradient_weighting
    assert isinstance(uw, weighting.UncertaintyWeighting)
    assert (uw.initial_log_variance, uw.weight_exponent, uw.clip) == (
        1.0,
        2.0,
        (0.01, 10.0),
    )
    assert isinstance(pc, weighting.PCGrad)
    assert (pc.gradients, pc.shuffle, pc.include_self) == (
        "parameters",
        False,
        True,
    )
    assert enabled is False


def test_celeba_tag_records_the_colab_sources_per_epoch():
    """google-research `tag/celeba/CelebA.ipynb`: its run cell sets
    `FLAGS.order = 1` (`permute`: the tasks plus all tasks together) and
    `train` keeps `gradient_metrics` per epoch."""
    from tfmtl.methods.tag.affinity_recorder import AffinityRecorder

    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, "gin_configs/tag/celeba_tag.gin")],
            ["MODEL_DIR = '/unused'"],
        )
        recorder = gin.query_parameter("%ACTIONS")[-1].scoped_configurable_fn()
    finally:
        gin.clear_config()
    assert isinstance(recorder, AffinityRecorder)
    assert recorder.sources == "tasks_and_all"
    assert recorder.steps_per_epoch == 636
    assert recorder.lookahead == "optimizer"
