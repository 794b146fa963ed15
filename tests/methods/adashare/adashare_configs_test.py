"""AdaShare's CityScapes and Taskonomy configs run on synthetic data (smoke)."""

import json
import os

import gin
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
# adashare_binary_test.py runs every phase of nyu_v2_2task_synthetic
# and of nyu_v2_3task (on tiny files in the real layout; the synthetic
# variant only swaps the data). Taskonomy has its own losses and metrics;
# CityScapes its own tasks (segmentation + depth) and learning rates.
CONFIGS = {
    "cityscapes_2task": ["segmentation", "depth"],
    "taskonomy_5task": ["segmentation", "normals", "depth", "edges"],
}


@pytest.mark.large
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_synthetic_variant_learns_a_policy_and_evaluates(
    name, tmp_path, run_gin_experiment
):
    path = os.path.join(ROOT, f"gin_configs/adashare/{name}_synthetic.gin")
    results, _ = run_gin_experiment(
        [path],
        [
            f"MODEL_DIR = '{tmp_path}'",
            "TRAIN_STEPS = 8",
            "EVAL_EVERY = 8",
            "EVAL_STEPS = 1",
        ],
        mode="train_and_evaluate",
    )
    learned = json.loads((tmp_path / "policy" / "policy.json").read_text())
    assert learned["tasks"] == CONFIGS[name]
    assert learned["step"] == 8 and learned["num_train_layers"] == 2
    # SaveBestPolicy is wired in, but with 2 of 8 blocks unlocked no policy
    # competes for "best" yet (adashare_best_policy_test.py).
    assert not (tmp_path / "policy" / "best_policy.json").exists()
    for task in CONFIGS[name]:
        assert f"metric/{task}/" in " ".join(results)
    if name == "taskonomy_5task":
        # The reference's Taskonomy scores next to the standard metrics.
        assert results["metric/segmentation/cross_entropy"] > 0
        assert -1 <= results["metric/normals/cosine"] <= 1


def test_test_phase_scores_the_whole_test_split():
    # Validation during policy learning: 11 batches, as the reference;
    # retrain.gin's test phase: every batch (EVAL_STEPS None).
    benchmark = os.path.join(ROOT, "gin_configs/adashare/nyu_v2_2task.gin")
    retrain = os.path.join(ROOT, "gin_configs/adashare/retrain.gin")
    gin.add_config_file_search_path(ROOT)
    for files, expected in (([benchmark], 11), ([benchmark, retrain], None)):
        gin.clear_config()
        try:
            gin.parse_config_files_and_bindings(
                files,
                [
                    "DATA_DIR = '/nowhere'",
                    "MODEL_DIR = '/nowhere'",
                    "POLICY_FILE = 'p.json'",
                ],
            )
            assert gin.query_parameter("%EVAL_STEPS") == expected
        finally:
            gin.clear_config()


@pytest.mark.parametrize(
    "extra, split",
    [
        ((), "test_small"),
        (("retrain",), "test_small"),
        (("retrain", "test"), "test"),
    ],
)
def test_taskonomy_validates_on_test_small_and_tests_on_test(extra, split):
    """Reference: sunxm2357/AdaShare `train.py::train` and
    `re-train.py::_train` validate on `Taskonomy(dataroot, 'test_small')`,
    `test.py::test` scores `Taskonomy(dataroot, 'test')`; the other
    benchmarks use 'test' throughout."""
    files = ["gin_configs/adashare/taskonomy_5task.gin"]
    files += [f"gin_configs/adashare/{name}.gin" for name in extra]
    gin.add_config_file_search_path(ROOT)
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, f) for f in files],
            [
                "DATA_DIR = '/nowhere'",
                "MODEL_DIR = '/nowhere'",
                "POLICY_FILE = 'p.json'",
            ],
        )
        value = gin.query_parameter("%EVAL_SPLIT")
        while isinstance(value, gin.config.ConfigurableReference):
            value = gin.query_parameter(f"%{value.scopes[-1]}")  # a macro
        assert value == split
        # Validation on 11 batches, the test on the whole split.
        steps = gin.query_parameter("%EVAL_STEPS")
        assert steps == (None if extra else 11)
    finally:
        gin.clear_config()
