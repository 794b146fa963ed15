"""A fixed list of runs as an ask/tell searcher, for `SearchRunner`.

Some outer loops are not searches: TAG's group runs and HOA's pair runs
train a list of configurations known in advance. `RunList` hands that list
to `SearchRunner` as one generation, so those runs get the runner's
parallel workers, retries and resumable log like any search.
"""

import zlib

import numpy as np


def run_params(index, name):
    """`[index, crc32(name)]`: the logged parameters of run `index`.

    The checksum makes the runner's replay refuse a log written for a
    different list of runs instead of silently skipping the wrong ones.
    """
    return np.array(
        [float(index), float(zlib.crc32(name.encode()))], np.float64
    )


class RunList:
    """Ask/tell searcher over a fixed list of named runs.

    Args:
        names: Run names, in order (each evaluated once).

    Example:
    ```python
    searcher = RunList(["a+b", "c"])
    SearchRunner(searcher, evaluate, "/tmp/runs").run()
    ```
    """

    def __init__(self, names):
        self.names = [str(n) for n in names]
        if not self.names:
            raise ValueError("RunList needs at least one run, got [].")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"RunList names repeat: {self.names}")
        self.scores, self.generation, self.num_tasks = None, 0, 0

    @property
    def done(self):
        return self.scores is not None

    @property
    def num_evaluations(self):
        return 0 if self.scores is None else len(self.names)

    def ask(self):
        return [run_params(i, n) for i, n in enumerate(self.names)]

    def tell(self, scores, task_scores=None):
        del task_scores
        self.scores = [float(s) for s in scores]
        self.generation = 1

    def name_of(self, params):
        """The run name that `params` (from `ask`) stands for."""
        return self.names[int(round(float(params[0])))]

    @property
    def best_params(self):
        if self.scores is None:
            return None
        return run_params(int(np.argmax(self.scores)), self.best_name)

    @property
    def best_name(self):
        if self.scores is None:
            return None
        return self.names[int(np.argmax(self.scores))]

    @property
    def best_score(self):
        return None if self.scores is None else max(self.scores)

    def describe(self, params):
        return {"best_run": None if params is None else self.name_of(params)}
