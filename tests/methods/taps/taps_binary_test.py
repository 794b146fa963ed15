"""TAPS end to end: `tfmtl.train` on DomainNet folders, then the TAPS CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.taps.run_module import run_module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
GIN = os.path.join(ROOT, "gin_configs", "taps", "domainnet_resnet34.gin")
JOINT_GIN = os.path.join("gin_configs", "taps", "domainnet_joint_resnet34.gin")


_run = run_module


def _tree(root, domain="clipart"):
    for split, n in (("train", 4), ("test", 2)):
        for c, name in enumerate(("apple", "bee", "car")):
            for i in range(n):
                path = os.path.join(root, domain, split, name, f"{i}.png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                pixels = np.full((8, 8, 3), 80 * c + i, np.uint8)
                tf.io.write_file(path, tf.io.encode_png(pixels))


@pytest.mark.large
def test_domainnet_taps_train_export_and_draw(tmp_path):
    _tree(tmp_path / "DomainNet")
    model_dir = tmp_path / "run"
    train = [
        "tfmtl.train",
        f"--gin_file={GIN}",
        f"--gin.MODEL_DIR='{model_dir}'",
        f"--gin.DOMAINNET_ROOT='{tmp_path / 'DomainNet'}'",
        "--gin.DOMAIN='clipart'",
        "--gin.IMAGE_SIZE=16",
        "--gin.TRAIN_STEPS=4",
        "--gin.EVAL_EVERY=2",
        "--gin.EVAL_STEPS=1",
        "--gin.GLOBAL_BATCH_SIZE=2",
        "--gin.ACCUMULATION_STEPS=2",
        "--gin.WARMUP_STEPS=1",
        "--gin.LAM=3.0",
        "--gin.SUMMARY_EVERY=2",
        "--gin.CHECKPOINT_EVERY=2",
        "--gin.TAPS_SUMMARY_EVERY=2",
        "--gin.TRAIN_ERROR_STEPS=1",
        "--gin.backbones.ResNet.depth=18",
        "--gin.backbones.ResNet.widths=(4, 4, 4, 4)",
    ]
    result = _run(*train, "--mode=train_and_evaluate")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "metric/clipart/error" in result.stderr
    assert (model_dir / "taps_layers.png").exists()
    tags = set()
    for path in tf.io.gfile.glob(str(model_dir / "train" / "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    for tag in (
        "taps/layers_tuned/clipart",
        "taps/parameters_changed/clipart",
        "taps/train_error/clipart",
        "loss/clipart",
    ):
        assert tag in tags, sorted(tags)
    assert any(t.endswith("taps/layers") for t in tags), sorted(tags)
    result = _run(*train, "--mode=export")
    assert result.returncode == 0, result.stderr[-3000:]
    # What `python -m tfmtl.methods.taps.main --model_dir=...` runs, in-process.
    from tfmtl.methods.taps.main import export_all

    out = model_dir / "export" / "taps"
    export_all(str(model_dir / "export" / "model.keras"), str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["layers_tuned"]["clipart"] <= 1.0
    assert len(summary["active_layers"][0]) == 20  # ResNet-18 convolutions
    for name in (
        "layers.png",
        "compact/model.json",
        "compact/base.npz",
        "compact/task_clipart.npz",
        "merged/merged_clipart.keras",
    ):
        assert (out / name).exists(), name


def test_missing_model_is_one_line_exit_2(tmp_path, capsys):
    from absl import flags

    from tfmtl.methods.taps import main as taps_binary

    flags.FLAGS(["taps", f"--model_dir={tmp_path}"])
    try:
        with pytest.raises(SystemExit) as info:
            taps_binary._main(["taps"])
    finally:
        flags.FLAGS.unparse_flags()
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "tfmtl.methods.taps.main: error: FileNotFoundError"
    )
    assert "--mode=export" in lines[0]


def test_domainnet_joint_config_reports_every_domain(tmp_path):
    # The joint DomainNet experiment file, cut down to two domains and tiny
    # sizes, run in-process as `python -m tfmtl.train` would run it.
    import gin

    from tfmtl import experiment

    for domain in ("clipart", "real"):
        _tree(tmp_path / "DomainNet", domain)
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    bindings = [
        f"MODEL_DIR = '{tmp_path / 'run'}'",
        f"DOMAINNET_ROOT = '{tmp_path / 'DomainNet'}'",
        "DOMAINS = ['clipart', 'real']",
        "ACCUMULATION_STEPS = 2",
        "IMAGE_SIZE = 16",
        "GLOBAL_BATCH_SIZE = 2",
        "TRAIN_STEPS = 4",
        "DECAY_STEPS = 2",
        "EVAL_EVERY = 4",
        "TRAIN_ERROR_STEPS = 1",
        "TAPS_SUMMARY_EVERY = 4",
        "STRATEGY = 'default'",
        "backbones.ResNet.depth = 18",
        "backbones.ResNet.widths = (4, 4, 4, 4)",
    ]
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, JOINT_GIN)], bindings
        )
        results = gin.get_configurable(experiment.run)(
            mode="train_and_evaluate"
        )
    finally:
        gin.clear_config()
    for domain in ("clipart", "real"):
        assert 0.0 <= results[f"metric/{domain}/error"] <= 1.0
    tags = set()
    for path in tf.io.gfile.glob(str(tmp_path / "run" / "train" / "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    for tag in ("taps/train_error/real", "taps/layers_tuned/clipart"):
        assert tag in tags, sorted(tags)
