"""Decathlon score against a float64 numpy version of the devkit formula.

Formula (Rebuffi et al., NeurIPS 2017, section 5): per task, E_max = 2 *
baseline error, gamma = 2, alpha = 1000 / E_max ** gamma, score = alpha *
max(0, E_max - E) ** gamma, summed. Constants: the baseline accuracies (%)
59.87, 60.34, 82.12, 92.82, 55.53, 97.53, 81.41, 87.69, 96.55, 51.20, in the
task order imagenet12, aircraft, cifar100, daimlerpedcls, dtd, gtsrb,
vgg-flowers, omniglot, svhn, ucf101, copied here from
`util/calc.py::decathlon_score` and `util/datasets/decathlon.py::task_names`
of github.com/google/multi-task-architecture-search.
"""

import numpy as np
import pytest

from tfmtl.methods.feature_partitioning.decathlon_score import (
    decathlon_score,
)

NAMES = [
    "imagenet12", "aircraft", "cifar100", "daimlerpedcls", "dtd", "gtsrb",
    "vgg-flowers", "omniglot", "svhn", "ucf101",
]  # fmt: skip
BASELINE = np.array(
    [59.87, 60.34, 82.12, 92.82, 55.53, 97.53, 81.41, 87.69, 96.55, 51.20],
    np.float64,
)


def _numpy_score(accuracy, index):
    max_err = 2.0 * (1.0 - BASELINE[index] / 100.0)
    alpha = 1000.0 / max_err**2
    return alpha * np.maximum(0.0, max_err - (1.0 - accuracy)) ** 2


def test_matches_numpy_formula_on_random_accuracies():
    rng = np.random.default_rng(0)
    for _ in range(20):
        accuracy = rng.random(10)
        total, per_task = decathlon_score(dict(zip(NAMES, accuracy)))
        expected = _numpy_score(accuracy, np.arange(10))
        np.testing.assert_allclose(
            [per_task[n] for n in NAMES], expected, rtol=1e-12
        )
        assert total == pytest.approx(expected.sum(), rel=1e-12)


def test_defining_points_and_subsets():
    # Baseline accuracy -> 250, perfect -> 1000, twice the baseline error
    # or worse -> 0 (clamped, never negative).
    for i, name in enumerate(NAMES):
        base = BASELINE[i] / 100.0
        assert decathlon_score({name: base})[0] == pytest.approx(250.0)
        assert decathlon_score({name: 1.0})[0] == pytest.approx(1000.0)
        worse = max(0.0, 1.0 - 2.5 * (1.0 - base))
        assert decathlon_score({name: worse})[0] == 0.0
    assert decathlon_score(dict(zip(NAMES, BASELINE / 100)))[0] == (
        pytest.approx(2500.0)
    )
    total, per_task = decathlon_score({"svhn": 0.97, "dtd": 0.5})
    assert set(per_task) == {"svhn", "dtd"}
    assert total == pytest.approx(
        _numpy_score(0.97, 8) + _numpy_score(0.5, 4), rel=1e-12
    )


def test_bad_input():
    with pytest.raises(ValueError, match="'mnist'"):
        decathlon_score({"mnist": 0.5})
    with pytest.raises(ValueError, match="55.0"):
        decathlon_score({"svhn": 55.0})
