"""Fake finished TAG group runs (their result files), for tests."""

import json
import os

from tfmtl.methods.tag import groups


def fake_run(base_dir, tasks, values):
    """A finished run of `tasks` whose last evaluation gave `values`."""
    path = groups.run_dir(str(base_dir), tasks)
    os.makedirs(path)
    with open(os.path.join(path, "eval_results.json"), "w") as f:
        json.dump({"step": 1, "results": values}, f)


def fake_best(base_dir, tasks, final, best, test):
    """A run that stopped past its best step: `final` is the last
    evaluation, `best` the validation at the best step, `test` the test
    split of the restored best weights (`RestoreBest`)."""
    fake_run(base_dir, tasks, final)
    path = os.path.join(
        groups.run_dir(str(base_dir), tasks), "best_results.json"
    )
    with open(path, "w") as f:
        payload = {"step": 1, "validation": best, "split": "test", "test": test}
        json.dump(payload, f)
