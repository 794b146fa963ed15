"""Sequential TAPS on a `tfmtl.train` base: export and the TAPS binary.

Issue #17 item 8: after `--mode=export` of a sequential run whose `BASE` is
a `tfmtl.train` run, the TAPS binary failed to load `model.keras`
(`Layer 'taps' expected 1 variables ... ['penalty_scale']`): Keras built
TAPS once in a scratch graph, where reading the base failed, then again,
so the export held two `penalty_scale` weights.
"""

import keras
import numpy as np
import pytest

from tests.methods.taps.run_module import run_module
from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.methods.taps import TAPS
from tfmtl.models.backbones import ResNet
from tfmtl.models.weights import load_keras
from tfmtl.sharing import HardSharing
from tfmtl.trainers import build_controller

_SOURCE = SyntheticScenes(image_size=16, num_train=32, num_validation=8)


def _backbone():
    return ResNet(18, stem="small", widths=(4, 4, 8, 8))


def _controller(model_dir, task, sharing):
    return build_controller(
        model_dir=str(model_dir),
        tasks=tasks_lib.tasks_for(_SOURCE, [task]),
        sharing=sharing,
        optimizers={"weights": lambda: keras.optimizers.SGD(0.05)},
        train_data=_SOURCE,
        global_batch_size=4,
        checkpoint_every=1000,
        summary_every=1000,
    )


def test_taps_on_a_checkpoint_base_exports_a_loadable_model(tmp_path):
    base = _controller(
        tmp_path / "base",
        "attr_a0",
        lambda: HardSharing(_backbone(), tasks=("attr_a0",)),
    )
    base.save_checkpoint()
    controller = _controller(
        tmp_path / "taps",
        "attr_c0",
        lambda: TAPS(_backbone(), ("attr_c0",), base=str(tmp_path / "base")),
    )
    taps = controller.model.sharing
    penalties = [w.path for w in taps.weights if "penalty" in w.path]
    assert len(penalties) == 1, penalties
    # The base arrived (not the random initialisation).
    want = base.model.sharing.backbone.stem.layers[0].kernel
    got = taps.gated_layers()[0].base_kernel
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    path = str(tmp_path / "model.keras")
    controller.model.save(path)  # as `--mode=export` writes it
    loaded = load_keras(path)
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
    np.testing.assert_allclose(
        loaded(x, training=False)["attr_c0"],
        controller.model(x, training=False)["attr_c0"],
        atol=1e-5,
    )


def _run(*args):
    result = run_module(*args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.large
def test_documented_sequential_path_runs(tmp_path):
    """The commands of `gin_configs/taps/smoke_sequential.gin` and of
    `tfmtl/methods/taps/main.py`, as written there."""
    base, run = tmp_path / "smoke", tmp_path / "taps_smoke"
    gin = "--gin_file=gin_configs/taps/smoke_sequential.gin"
    _run(
        "tfmtl.train",
        "--gin_file=gin_configs/smoke.gin",
        f"--gin.MODEL_DIR='{base}'",
        "--mode=train",
    )
    taps = [f"--gin.MODEL_DIR='{run}'", f"--gin.BASE='{base}'"]
    _run(
        "tfmtl.train", gin, *taps, "--gin.LAM=0.5", "--mode=train_and_evaluate"
    )
    _run("tfmtl.train", gin, *taps, "--gin.LAM=0.5", "--mode=export")
    result = _run("tfmtl", "taps", f"--model_dir={run}")
    assert '"output_dir"' in result.stdout
    for name in ("layers.png", "summary.json", "compact/model.json"):
        assert (run / "export" / "taps" / name).exists(), name


def test_exports_with_a_stale_penalty_scale_still_load(tmp_path):
    """Files written by the double build hold two `penalty_scale`s, the
    first stale; they load, with the live (last) value."""
    from tfmtl.models.heads import ClassifierHead
    from tfmtl.models.multitask_model import MultiTaskModel

    model = MultiTaskModel(
        TAPS(_backbone(), ("a",), warmup_steps=5), {"a": ClassifierHead(2)}
    )
    model(np.zeros((1, 16, 16, 3), np.float32), training=False)
    taps = model.sharing
    # What the second build did: a new weight under the same attribute
    # (a built Keras layer refuses new state unless its tracker unlocks).
    taps._tracker.unlock()
    taps.penalty_scale = taps.add_weight(
        name="penalty_scale",
        shape=(),
        initializer=keras.initializers.Constant(0.75),
        trainable=False,
    )
    path = str(tmp_path / "old.keras")
    model.save(path)
    loaded = load_keras(path)
    assert float(np.asarray(loaded.sharing.penalty_scale)) == 0.75
    x = np.random.default_rng(1).uniform(size=(2, 16, 16, 3))
    np.testing.assert_allclose(
        loaded(x, training=False)["a"], model(x, training=False)["a"], atol=1e-5
    )
