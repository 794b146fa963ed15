"""What one child evaluation runs, for every backend of `tfmtl.search`."""

import dataclasses


@dataclasses.dataclass
class ChildSpec:
    """One child evaluation: its command line and where its files are.

    Built by `SubprocessEvaluator.spec` on the driver's machine; the local
    backend runs `argv` as it is, the Vertex AI backend rewrites its paths
    for the job's container.

    Args:
        sample_id: The evaluation's id in the search log.
        argv: The child's full command line (`argv[0]` the interpreter).
        directory: The driver's directory of this evaluation (candidate
            files written by `prepare`, logs).
        result_file: Where the child writes `{"score": ...}`.
        outputs: Files the child writes outside `directory` that the driver
            needs back (e.g. a run's `eval_results.json`).
    """

    sample_id: int
    argv: list
    directory: str
    result_file: str
    outputs: list = dataclasses.field(default_factory=list)
