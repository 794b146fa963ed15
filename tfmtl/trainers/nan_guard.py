"""NanGuard: stop before a diverged state is saved, and say how to resume."""

import math

import numpy as np

from tfmtl.trainers.actions import Action, TrainingDivergedError


class NanGuard(Action):
    """Stops with a clear error when training leaves its normal range.

    It watches every logged loss and gradient norm for non-finite values,
    and every `loss/...` for spikes: a value above `spike_factor` times the
    running median of its last `window` values (once `warmup` values are
    known; keys whose median is not positive are not checked for spikes).

    The loss of step `s` is computed on the weights saved at step `s - 1`,
    so on a bad step `s` the checkpoints from step `s - 1` on are moved to
    `<checkpoint dir>/diverged/`: the latest checkpoint left is one whose
    weights gave normal losses, and a resume (with the configuration's
    learning rate, which wins over the stored one) starts from it.

    Args:
        every_n_steps: How often to check.
        spike_factor: A loss above this many times its running median is a
            spike (None: only non-finite values stop training).
        window: Values in the running median.
        warmup: Values seen before spikes are checked.

    Example:
    ```python
    # gin: from tfmtl.trainers import nan_guard
    #      experiment.run.nan_guard = @nan_guard.NanGuard()
    #      nan_guard.NanGuard.spike_factor = 1000.0
    guard = NanGuard(spike_factor=1000.0)
    ```
    """

    def __init__(
        self, every_n_steps: int = 1, spike_factor=100.0, window=100, warmup=20
    ):
        super().__init__(every_n_steps, "train")
        self.spike_factor = (
            None if spike_factor is None else float(spike_factor)
        )
        self._history = _RunningMedians(int(window), int(warmup))

    def __call__(self, step, logs, context):
        bad = {
            k: float(v)
            for k, v in logs.items()
            if k.startswith(("loss", "grad_norm"))
            and not math.isfinite(float(v))
        }
        what = "Non-finite loss"
        if not bad:
            bad, what = self._spikes(logs), "Loss spike"
        if not bad:
            return
        good = context.checkpoints.set_aside_after(step - 2)
        raise TrainingDivergedError(
            f"{what} at step {step}: {bad}. Checkpoints from step "
            f"{step - 1} on were moved to diverged/; last good checkpoint: "
            f"{good or 'none (a resume starts from scratch)'}. Lower the "
            "learning rate or enable gradient clipping, then resume."
        )

    def _spikes(self, logs):
        """`{key: value}` of the losses above their normal range."""
        if self.spike_factor is None:
            return {}
        return self._history.spikes(logs, self.spike_factor)


class _RunningMedians:
    """The last `window` normal values of every `loss/...` key (a plain
    object, so `tf.Module` does not track the lists)."""

    def __init__(self, window, warmup):
        self.window, self.warmup, self.values = window, warmup, {}

    def spikes(self, logs, factor):
        spikes = {}
        for key, value in logs.items():
            if not key.startswith("loss/"):
                continue
            value, seen = float(value), self.values.setdefault(key, [])
            median = np.median(seen) if len(seen) >= self.warmup else 0.0
            if median > 0 and value > factor * median:
                spikes[key] = value
                continue
            seen.append(value)
            del seen[: -self.window]
        return spikes
