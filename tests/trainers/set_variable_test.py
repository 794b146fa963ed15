"""SetVariable: the one action that writes step-driven model state."""

import types

import keras
import numpy as np
import pytest

from tfmtl.trainers import SetVariable


class _Module(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.temperature = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="temperature"
        )
        self.size = 3


def _context():
    model = types.SimpleNamespace(sharing=_Module())
    return types.SimpleNamespace(model=model)


def test_assigns_fn_of_the_next_step_index():
    context = _context()
    action = SetVariable("sharing.temperature", lambda s: 5.0 * 0.5**s)
    action.bind(context)
    assert action.every_n_steps == 1 and action.on == "train"
    # After 3 steps the next step has index 3.
    action(3, {}, context)
    np.testing.assert_allclose(context.model.sharing.temperature.numpy(), 0.625)
    SetVariable("sharing.temperature", lambda s: None)(9, {}, context)
    np.testing.assert_allclose(context.model.sharing.temperature.numpy(), 0.625)


def test_bad_paths_fail_when_the_run_is_built():
    context = _context()
    with pytest.raises(ValueError, match="has no attribute 'tau'"):
        SetVariable("sharing.tau", float).bind(context)
    with pytest.raises(ValueError, match="'sharing.size' is a int"):
        SetVariable("sharing.size", float).bind(context)
    with pytest.raises(ValueError, match="both `path` and `fn`"):
        SetVariable("sharing.temperature")


def test_subclasses_set_several_variables():
    class Two(SetVariable):
        def values(self, step, context):
            return {"sharing.temperature": 2.0 * step}

    context = _context()
    Two()(4, {}, context)
    assert float(context.model.sharing.temperature.numpy()) == 8.0
    # The action keeps no reference to model variables (its checkpoint
    # holds only its own state).
    assert not SetVariable("sharing.temperature", float).variables
