"""AdaShare's Taskonomy config runs on synthetic data (smoke size)."""

import json
import os

import gin
import pytest

from tfmtl import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# tests/adashare_binary_test.py runs every phase of nyu_v2_2task_synthetic
# and of nyu_v2_3task (on tiny files in the real layout); cityscapes_2task
# differs from those only in data and numbers (its synthetic variant was
# run by hand). Taskonomy has its own losses and metrics.
CONFIGS = {
    "taskonomy_5task": ["segmentation", "normals", "depth", "edges"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_synthetic_variant_learns_a_policy_and_evaluates(name, tmp_path):
    path = os.path.join(ROOT, f"gin_configs/adashare/{name}_synthetic.gin")
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [path],
            [
                f"MODEL_DIR = '{tmp_path}'",
                "TRAIN_STEPS = 8",
                "EVAL_EVERY = 8",
                "EVAL_STEPS = 1",
            ],
        )
        results = gin.get_configurable(experiment.run)(
            mode="train_and_evaluate"
        )
    finally:
        gin.clear_config()
    learned = json.loads((tmp_path / "policy" / "policy.json").read_text())
    assert learned["tasks"] == CONFIGS[name]
    assert learned["step"] == 8 and learned["num_train_layers"] == 2
    # The one evaluation (step 8) is the best so far: its policy is kept.
    best = json.loads((tmp_path / "policy" / "best_policy.json").read_text())
    assert best["step"] == 8 and best["metric"] == "loss/total"
    assert best["value"] == pytest.approx(results["loss/total"])
    assert best["logits"] == learned["logits"]
    for task in CONFIGS[name]:
        assert f"metric/{task}/" in " ".join(results)
    if name == "taskonomy_5task":
        # The reference's Taskonomy scores next to the standard metrics.
        assert results["metric/segmentation/cross_entropy"] > 0
        assert -1 <= results["metric/normals/cosine"] <= 1
