"""Checkpoints are keyed by variable path and checked before restoring."""

import pytest
import tensorflow as tf

from tfmtl.testing import tiny_problem
from tfmtl.trainers import build_controller, checkpointing


def _controller(model_dir):
    return build_controller(
        model_dir=str(model_dir),
        summary_every=2,
        checkpoint_every=2,
        **tiny_problem(),
    )


def test_keys_are_stable_between_builds(tmp_path):
    a = checkpointing.variable_keys(_controller(tmp_path / "a").model)
    b = checkpointing.variable_keys(_controller(tmp_path / "b").model)
    assert list(a) == list(b)
    assert any(k.startswith("heads/") for k in a)
    assert all(not k.startswith("multi_task_model") for k in a)


def test_checkpoint_with_other_names_fails_naming_first_mismatch(tmp_path):
    run = _controller(tmp_path)
    run.train(2)
    keys = checkpointing.variable_keys(run.model)
    first = next(iter(keys))
    renamed = dict(checkpointing.keyed(run.model))
    renamed["renamed"] = renamed.pop(first.replace("/", ":"))
    state = tf.Module()
    state.model = renamed
    prefix = tf.train.Checkpoint(state=state).write(str(tmp_path / "bad"))
    with pytest.raises(ValueError, match=f"variable '{first}'"):
        checkpointing.check_fits(prefix, run.model)


def test_read_model_variables_by_path(tmp_path):
    run = _controller(tmp_path)
    run.train(2)
    values = checkpointing.read_model_variables(
        run.latest_checkpoint(), "heads"
    )
    keys = checkpointing.variable_keys(run.model)
    for key, variable in keys.items():
        if key.startswith("heads/"):
            assert (values[key[len("heads/") :]] == variable.numpy()).all()
