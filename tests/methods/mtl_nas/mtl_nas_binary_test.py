"""The MTL-NAS / NDDR commands: tfmtl.train with gin_configs/mtl_nas."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def _run(gin_file, model_dir, *extra, mode="train_and_evaluate"):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tfmtl.train",
            f"--gin_file=gin_configs/mtl_nas/{gin_file}",
            f"--gin.MODEL_DIR='{model_dir}'",
            f"--mode={mode}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.large
def test_search_then_build_the_discretised_network(tmp_path):
    search = tmp_path / "search"
    result = _run(
        "synthetic_search.gin",
        search,
        "--gin.TRAIN_STEPS=2",
        "--gin.EVAL_EVERY=2",
        "--gin.EVAL_STEPS=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    arch = json.loads((search / "architecture.json").read_text())
    assert arch["step"] == 2 and len(arch["edges"]) == 2 * 9
    assert (search / "connectivity.png").stat().st_size > 100

    retrain = tmp_path / "retrain"
    result = _run(
        "synthetic_retrain.gin",
        retrain,
        f"--gin.ARCHITECTURE='{search / 'architecture.json'}'",
        "--gin.EVAL_STEPS=1",
        # The discretised network built from the file, evaluated before
        # retraining (training it was checked by hand: see COMMAND).
        "--allow_untrained",
        mode="evaluate",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    kept = json.loads((retrain / "architecture.json").read_text())
    assert [e["keep"] for e in kept["edges"]] == [
        e["keep"] for e in arch["edges"]
    ]


def test_missing_architecture_is_a_one_line_error(tmp_path):
    result = _run(
        "synthetic_retrain.gin",
        tmp_path,
        f"--gin.ARCHITECTURE='{tmp_path / 'none.json'}'",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "tfmtl.train: error:" in result.stderr
    assert "none.json" in result.stderr


def _nyu_root(root, num_train=8, num_test=2, size=(12, 16)):
    """Tiny NYUv2 in the NDDR-CNN / MTL-NAS list layout."""
    rng = np.random.default_rng(0)
    (root / "list").mkdir(parents=True)
    for split, count in (("training", num_train), ("testing", num_test)):
        seg_lines, normal_lines = [], []
        for i in range(count):
            names = [f"/{split}/{kind}_{i}.png" for kind in "isn"]
            image = rng.integers(0, 256, (*size, 3), np.uint8)
            seg = rng.integers(0, 40, (*size, 1), np.uint8)
            normals = rng.integers(0, 256, (*size, 3), np.uint8)
            normals[0, 0] = 255  # an invalid pixel
            for name, array in zip(names, (image, seg, normals)):
                path = root / name[1:]
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(tf.io.encode_png(array).numpy())
            seg_lines.append(f"{names[0]} {names[1]}\n")
            normal_lines.append(f"{names[0]} {names[2]}\n")
        (root / "list" / f"{split}_seg.txt").write_text("".join(seg_lines))
        (root / "list" / f"{split}_normal_mask.txt").write_text(
            "".join(normal_lines)
        )
    return root


def _run_config(tmp_path, run_gin_experiment, gin_file, *bindings):
    """Trains a gin config in-process on tiny NYUv2 with a 1/16 VGG-16."""
    logs, built = run_gin_experiment(
        [f"gin_configs/mtl_nas/{gin_file}"],
        [
            f"MODEL_DIR = '{tmp_path / 'run'}'",
            f"NYU_ROOT = '{_nyu_root(tmp_path / 'nyu')}'",
            "GLOBAL_BATCH_SIZE = 2",
            "CROP_SIZE = (8, 8)",
            "nyuv2_list.NYUv2List.num_validation = 2",
            "backbones.VGG16.width_scale = 0.0625",
            "SUMMARY_EVERY = 1",
            *bindings,
        ],
    )
    return logs, built[0]


def _initial_rates(controller):
    """Each optimizer's learning rate at its step 0."""
    rates = {}
    for group, opt in controller.optimizers.items():
        rate = opt._learning_rate
        is_schedule = isinstance(
            rate, keras.optimizers.schedules.LearningRateSchedule
        )
        rates[group] = float(rate(0) if is_schedule else rate)
    return rates


def test_nddr_config_weights_normals_20x_and_fc8_multipliers(
    tmp_path, run_gin_experiment
):
    logs, controller = _run_config(
        tmp_path, run_gin_experiment, "vgg_nyuv2_nddr.gin", "TRAIN_STEPS = 1"
    )
    # The objective is seg + 20 x normals (no regulariser in NDDR).
    assert logs["loss/regularization"] == 0.0
    np.testing.assert_allclose(
        logs["loss/objective"],
        logs["loss/segmentation"] + 20.0 * logs["loss/normals"],
        rtol=1e-5,
    )
    assert logs["weight/normals"] == 20.0
    # Learning-rate multipliers: NDDR x100, fc8 weights x10, biases x20.
    rates = _initial_rates(controller)
    base = rates.pop("weights")
    np.testing.assert_allclose(base, 0.001)
    ratios = {group: rate / base for group, rate in rates.items()}
    np.testing.assert_allclose(
        [ratios["fusion"], ratios["fc8_weights"], ratios["fc8_biases"]],
        [100.0, 10.0, 20.0],
        rtol=1e-6,
    )
    groups = controller.model.variable_groups()
    assert [v.path.split("/")[-2:] for v in groups["fc8_biases"]] == [
        ["output_conv", "bias"]
    ] * 2
    assert controller.optimizers["fc8_biases"].iterations.numpy() == 1
    # Training crops are augmented to CROP_SIZE; evaluation keeps the
    # stored size.
    assert controller.image_shape == (8, 8, 3)
    results = controller.evaluate(1)
    assert "metric/normals/mean_angle" in results


def test_mtlnas_default_config_search_step(tmp_path, run_gin_experiment):
    logs, controller = _run_config(
        tmp_path,
        run_gin_experiment,
        "vgg_nyuv2_default.gin",
        "TRAIN_STEPS = 2",
        "SEARCH_STEPS = 1",
    )
    nas = controller.model.sharing
    assert len(nas.edges[0]) == 24
    # Step 2 is the architecture step: objective = seg + 20 x normals +
    # 10 x entropy (+ 0 x L1).
    np.testing.assert_allclose(
        logs["loss/objective"],
        logs["loss/segmentation"]
        + 20.0 * logs["loss/normals"]
        + logs["loss/regularization"],
        rtol=1e-5,
    )
    assert logs["loss/regularization"] > 6.0  # 10 log 2 at alpha ~ 0
    for group in ("weights", "fusion", "fc8_weights", "fc8_biases", "arch"):
        assert controller.optimizers[group].iterations.numpy() == 1, group
    rates = _initial_rates(controller)
    np.testing.assert_allclose(rates["fc8_biases"] / rates["weights"], 20.0)
