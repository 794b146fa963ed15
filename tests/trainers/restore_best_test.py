"""RestoreBest: the model ends on the best evaluation's weights, test scored.

Reference: google-research `tag/celeba/CelebA.ipynb` (the training loop
restores the weights of the epoch with the lowest summed validation loss,
then evaluates the test split with them).
"""

import json
import os
import types

import numpy as np
import pytest

from tfmtl.testing import tiny_problem
from tfmtl.trainers import Action, build_controller
from tfmtl.trainers.restore_best import RestoreBest


class _Inject(Action):
    """Adds a chosen `fake` value to each evaluation and keeps the weights."""

    def __init__(self, values):
        super().__init__(on="eval")
        # Not checkpointed: a plain namespace is not tracked by tf.Module.
        self.seen = types.SimpleNamespace(
            values=list(values), weights={}, logs={}
        )

    def __call__(self, step, logs, context):
        logs["fake"] = self.seen.values.pop(0)
        self.seen.weights[step] = [np.array(v) for v in context.model.weights]
        self.seen.logs[step] = dict(logs)


def _controller(model_dir, actions):
    return build_controller(
        model_dir=str(model_dir),
        summary_every=2,
        checkpoint_every=2,
        actions=actions,
        **tiny_problem(),
    )


def test_restores_the_best_step_and_scores_the_test_split(tmp_path):
    # Evaluations at steps 2, 4, 6; the best (lowest) is step 4, and the
    # tie at the last step must not replace it (strict improvement).
    inject = _Inject([3.0, 1.0, 1.0])
    restore = RestoreBest("fake", split="test")
    controller = _controller(tmp_path, [inject, restore])
    controller.train(6, eval_every=2, eval_steps=None)
    weights = [np.array(v) for v in controller.model.weights]
    best, last = inject.seen.weights[4], inject.seen.weights[6]
    assert any(not np.array_equal(a, b) for a, b in zip(best, last))
    for got, want in zip(weights, best):
        np.testing.assert_array_equal(got, want)

    with open(os.path.join(tmp_path, "best_results.json")) as f:
        payload = json.load(f)
    assert payload["step"] == 4 and payload["split"] == "test"
    assert payload["value"] == 1.0
    assert payload["validation"]["loss/total"] == pytest.approx(
        inject.seen.logs[4]["loss/total"]
    )
    evaluator = controller.evaluator
    test = evaluator.results(evaluator.statistics(split="test"))
    validation = evaluator.results(evaluator.statistics(split="validation"))
    assert payload["test"] == pytest.approx(test)
    assert payload["test"]["loss/total"] != pytest.approx(
        validation["loss/total"]
    )
    assert validation["loss/total"] == pytest.approx(
        inject.seen.logs[4]["loss/total"]
    )


def test_without_evaluations_nothing_is_restored(tmp_path):
    controller = _controller(tmp_path, [RestoreBest()])
    controller.train(2)
    assert not os.path.exists(os.path.join(tmp_path, "best_results.json"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="'median'"):
        RestoreBest(mode="median")
    with pytest.raises(ValueError, match="''"):
        RestoreBest(split="")
