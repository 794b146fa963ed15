"""The dry run of an outer loop: the jobs it would submit and their cost."""

import math


class DryRun:
    """Prints the jobs of a search's first generation and its cost.

    Set as a backend's `dry_run`, it makes `SearchRunner.run` print every
    job of the first `ask()` (all of a fixed list of runs, such as HOA's
    pairs; a search's later generations depend on the scores) with its
    machine, then an estimate of the accelerator-hours of the whole budget
    (the searcher's `num_samples`, else the first generation):
    `evaluations x steps_per_run / steps_per_second / 3600` hours, times
    the accelerators of a job. Nothing is submitted or run.

    Args:
        steps_per_run: Training steps of one evaluation (None: no
            estimate).
        steps_per_second: Measured training speed on the job's machine.
        out: Callable printing one line.
    """

    def __init__(self, steps_per_run=None, steps_per_second=None, out=print):
        self.steps_per_run, self.steps_per_second = (
            steps_per_run,
            steps_per_second,
        )
        self.out = out
        if steps_per_second is not None and steps_per_second <= 0:
            raise ValueError(
                f"steps_per_second must be > 0, got {steps_per_second}."
            )

    def report(self, searcher, backend):
        """Prints the jobs; returns a summary (`dry_run`, `jobs`, ...)."""
        first_id = searcher.num_evaluations
        batch = searcher.ask()
        specs = [
            backend.evaluator.spec(first_id + i, p) for i, p in enumerate(batch)
        ]
        size = backend.evals_per_job
        jobs = [specs[i : i + size] for i in range(0, len(specs), size)]
        accelerators = 0
        for job in jobs:
            lines, accelerators = backend.describe(job)
            for line in lines:
                self.out(line)
        budget = getattr(searcher, "num_samples", None) or len(specs)
        summary = {
            "dry_run": True,
            "best_score": math.nan,
            "best_params": None,
            "jobs": len(jobs),
            "evaluations_shown": len(specs),
            "budget": int(budget),
            "accelerators_per_job": accelerators,
            "accelerator_hours": None,
            "failed": [],
            "num_evaluations": 0,
        }
        self.out(
            f"dry run: {len(jobs)} jobs for {len(specs)} evaluations shown; "
            f"budget {budget} evaluations on the {backend.kind} backend"
        )
        if self.steps_per_run and self.steps_per_second:
            hours = self.steps_per_run / self.steps_per_second / 3600
            per = max(accelerators, 1)
            total = budget * hours * per
            summary["accelerator_hours"] = total
            unit = "accelerator-hours" if accelerators else "machine-hours"
            self.out(
                f"estimate: {budget} x {self.steps_per_run} steps / "
                f"{self.steps_per_second:g} steps/s = {budget * hours:.4g} "
                f"job-hours x {per} accelerator(s) = {total:.4g} {unit} "
                "(job start-up not counted)"
            )
        return summary
