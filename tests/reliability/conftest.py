"""Shared pieces of the fault-injection tests: a tiny run."""

import pytest

from tfmtl.testing import tiny_problem
from tfmtl.trainers import build_controller


@pytest.fixture
def make_run():
    """`make_run(model_dir, problem=None, **kwargs)`: a tiny `Controller`
    (summaries every 2 steps, a checkpoint every 2 steps by default)."""

    def make(model_dir, problem=None, **kwargs):
        kwargs.setdefault("summary_every", 2)
        kwargs.setdefault("checkpoint_every", 2)
        return build_controller(
            model_dir=str(model_dir), **(problem or tiny_problem()), **kwargs
        )

    return make
