"""Preemption: SIGTERM and SIGINT end training cleanly after the step.

SIGTERM is what Vertex AI, Kubernetes and Spot VMs send before taking a
machine away. While `PreemptionWatch` is active, SIGTERM or SIGINT only
records the signal: the current step finishes, the loop asks `stop()`
after every step, and the controller then writes a checkpoint, flushes the
summaries and raises `TrainingInterrupted`. `tfmtl.train` turns that into
the signal's own exit status (the process ends by the signal, as it would
have without the handler: 143 for SIGTERM in a shell). A second signal
while the checkpoint is written ends the process at once.

Not yet under `MultiWorkerMirroredStrategy`: there the workers must stop
at the same step and save together, which needs a cross-worker agreement
that is not implemented; a multi-worker job keeps TensorFlow's default
signal behaviour (the process ends; the resume starts from the last
periodic checkpoint).
"""

import signal
import threading

from absl import logging

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint.

    Attributes:
        signum: The signal's number.
        step: The global step saved.
    """

    def __init__(self, signum, step):
        self.signum, self.step = int(signum), int(step)
        name = signal.Signals(self.signum).name
        super().__init__(
            f"Stopped by {name} at step {step}; checkpoint written, resume "
            "by running the same command."
        )


class PreemptionWatch:
    """Records SIGTERM / SIGINT while active (a context manager).

    Args:
        strategy: The run's strategy.
        num_workers: Processes of the job; above 1 no handler is
            installed (see the module doc).

    Example:
    ```python
    with PreemptionWatch(strategy) as watch:
        while not watch.stop():
            step()
    ```
    """

    def __init__(self, strategy=None, num_workers=1):
        self.strategy, self.num_workers = strategy, int(num_workers)
        self.signum = 0
        self._previous = {}

    def __enter__(self):
        single = self.num_workers <= 1
        if single and threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return False

    def _handle(self, signum, frame):
        del frame
        if self.signum:
            # A second signal: no more waiting.
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.signum = signum
        logging.warning(
            "Received %s: finishing the step, then saving a checkpoint.",
            signal.Signals(signum).name,
        )

    def stop(self):
        """Whether to stop now: a signal arrived."""
        return bool(self.signum)


def exit_by_signal(signum):
    """Ends the process by `signum` with its default action (its exit
    status is the signal's, as if no handler had been installed)."""
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
