"""gin_configs/adashare/compat.gin switches on AdaShare's scoring."""

import os

import gin
import pytest

from tfmtl import experiment
from tfmtl import tasks as tasks_lib
from tfmtl.metrics import DepthMetrics, SegmentationMetrics
from tfmtl.trainers import builder as builder_lib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
COMPAT = "gin_configs/adashare/compat.gin"


def _parse(files, bindings=()):
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    gin.parse_config_files_and_bindings(
        [os.path.join(ROOT, f) for f in files],
        ["MODEL_DIR = '/tmp/unused'", *bindings],
    )


def _compat_flags(files):
    """{task: [compat flags of its segmentation / depth metrics]}."""
    try:
        _parse(files)
        built = gin.get_configurable(tasks_lib.tasks_for)()
    finally:
        gin.clear_config()
    return {
        task.name: [
            m.compat
            for m in task.metrics
            if isinstance(m, SegmentationMetrics | DepthMetrics)
        ]
        for task in built
    }


@pytest.mark.parametrize(
    "benchmark",
    ["nyu_v2_2task", "nyu_v2_3task", "cityscapes_2task", "taskonomy_5task"],
)
def test_compat_gin_turns_on_compat_metrics(benchmark):
    files = [f"gin_configs/adashare/{benchmark}_synthetic.gin"]
    default = _compat_flags(files)
    compat = _compat_flags(files + [COMPAT])
    assert default["segmentation"] == [False]
    assert compat["segmentation"] == [True]
    if "depth" in compat:
        assert default["depth"] == [False] and compat["depth"] == [True]
    # Normals have no compat switch here (NORMALS_ENCODING does it).
    assert compat.get("normals", []) == []


def test_compat_gin_binds_nearest_interpolation():
    try:
        _parse(["gin_configs/adashare/nyu_v2_2task_synthetic.gin"])
        assert "dense_interpolation" not in gin.config_str()
        _parse(["gin_configs/adashare/nyu_v2_2task_synthetic.gin", COMPAT])
        assert (
            gin.query_parameter(
                "multitask_model.MultiTaskModel.dense_interpolation"
            )
            == "nearest"
        )
    finally:
        gin.clear_config()


def _evaluate(files, model_dir, bindings=()):
    try:
        _parse(
            files, [f"MODEL_DIR = '{model_dir}'", "EVAL_STEPS = 1", *bindings]
        )
        return gin.get_configurable(experiment.run)(
            mode="evaluate", allow_untrained=True
        )
    finally:
        gin.clear_config()


def test_compat_scores_come_out_of_an_evaluation(tmp_path, monkeypatch):
    # One evaluation batch of the CityScapes smoke config through the
    # Controller (same seed, so the same untrained model) with and without
    # compat.gin: the compat statistics survive the distributed eval step,
    # and dropping the zero-TP classes raises the mIoU of a model that
    # predicts only a few classes.
    built = []
    build = builder_lib.build_model

    def build_model(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(builder_lib, "build_model", build_model)
    files = ["gin_configs/adashare/cityscapes_2task_synthetic.gin"]
    # Both nearest, so that only the scoring differs.
    default = _evaluate(
        files,
        tmp_path / "default",
        ["multitask_model.MultiTaskModel.dense_interpolation = 'nearest'"],
    )
    compat = _evaluate(files + [COMPAT], tmp_path / "compat")
    models = dict(zip(("default", "compat"), built))
    assert compat["loss/total"] == pytest.approx(default["loss/total"])
    assert (
        compat["metric/segmentation/miou"] > default["metric/segmentation/miou"]
    )
    assert 0.0 < compat["metric/segmentation/pixel_acc"] <= 1.0
    assert compat["metric/depth/abs_err"] > 0.0
    assert 0.0 <= compat["metric/depth/delta1"] <= 1.0
    assert models["compat"].dense_interpolation == "nearest"
    assert models["default"].dense_interpolation == "nearest"
