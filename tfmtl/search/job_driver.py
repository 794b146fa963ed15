"""Keeps a backend's jobs in flight: cap, polling, retries, re-attaching."""

import time
import uuid

import numpy as np
from absl import logging


def parse_result(result):
    """`(score, task_scores)` of an evaluation's result; raises when bad."""
    if not isinstance(result, dict):
        result = {"score": result}
    score = float(result["score"])
    if not np.isfinite(score):
        raise ValueError(f"non-finite score {score}")
    task_scores = result.get("task_scores")
    if task_scores is not None:
        task_scores = [float(v) for v in task_scores]
    return score, task_scores


class _Sample:
    def __init__(self, sample_id, params, spec, attempt=0):
        self.sample_id, self.params, self.spec = sample_id, params, spec
        self.attempt, self.errors, self.jobs = attempt, [], []
        self.preemptions, self.started = 0, time.time()


class JobDriver:
    """Runs evaluations as jobs of a backend (`LocalBackend`,
    `VertexBackend`).

    At most `backend.max_jobs` jobs run at once, each with
    `backend.evals_per_job` evaluations. Every submitted job is journaled
    (`journal(event)`, lines of the search log holding a request id, then
    the job's name), so
    a restarted driver re-attaches to the jobs of evaluations that have no
    result yet (`backend.attach`) instead of submitting them again. A
    failed job is submitted again up to `max_retries` times per
    evaluation; a preempted one (a Spot VM taken back) up to
    `max_preemptions` more times, which do not count as failures.

    Args:
        backend: The backend.
        journal: Callable `(event dict)`: appends to the search log.
        max_retries: Extra attempts of an evaluation after failures.
        progress: Optional callable `(running, queued)`, called when the
            numbers change.
        max_preemptions: Extra attempts of an evaluation after
            preemptions.
    """

    def __init__(
        self, backend, journal, max_retries=1, progress=None, max_preemptions=3
    ):
        self.backend, self.journal = backend, journal
        self.max_retries, self.progress = int(max_retries), progress
        self.max_preemptions = int(max_preemptions)

    def run(self, items, jobs, done):
        """Evaluates `items` (`(sample_id, params)`); calls `done` for each.

        Args:
            items: The evaluations without a result.
            jobs: `{sample_id: last job event}` read from the log.
            done: Callable `(sample_id, params, outcome dict)`.
        """
        backend = self.backend
        inflight, queue = {}, []
        for sample_id, params in items:
            event = jobs.get(sample_id)
            sample = _Sample(sample_id, params, None)
            if event is None:
                queue.append(sample)
                continue
            sample.attempt = int(event["attempt"])
            handle = event.get("job")
            if handle is None:  # killed between submitting and journaling
                handle = backend.find(event["request"])
                if handle is not None and handle not in inflight:
                    self._journal_job(
                        handle, event["request"], event["ids"], sample.attempt
                    )
            if handle is not None and backend.attach(handle):
                sample.spec = backend.evaluator.spec(sample_id, params)
                logging.info("Re-attaching %s to %s.", sample_id, handle)
                inflight.setdefault(handle, []).append(sample)
            else:
                queue.append(sample)
        try:
            self._loop(inflight, queue, done)
        finally:
            close = getattr(backend, "close", None)
            if close is not None:
                close()

    def _loop(self, inflight, queue, done):
        backend, last = self.backend, None
        while queue or inflight:
            changed = False
            while queue and len(inflight) < backend.max_jobs:
                batch = queue[: backend.evals_per_job]
                del queue[: len(batch)]
                attempt = max(s.attempt for s in batch)
                for s in batch:
                    if s.spec is None:
                        s.spec = backend.evaluator.spec(s.sample_id, s.params)
                # Journaled before and after: a driver killed in between
                # finds the job again by its request id (`backend.find`).
                ids = [s.sample_id for s in batch]
                request = uuid.uuid4().hex[:16]
                self.journal(
                    {
                        "event": "submit",
                        "request": request,
                        "ids": ids,
                        "attempt": attempt,
                    }
                )
                specs = [s.spec for s in batch]
                handle = backend.submit(specs, attempt, request)
                self._journal_job(handle, request, ids, attempt)
                inflight[handle] = batch
                changed = True
            for handle in list(inflight):
                state, message = backend.poll(handle)
                if state == "running":
                    continue
                changed = True
                batch = inflight.pop(handle)
                for sample in batch:
                    sample.jobs.append(handle)
                    self._finish(
                        sample, state, message, len(batch), queue, done
                    )
            counts = (sum(map(len, inflight.values())), len(queue))
            if counts != last and self.progress is not None:
                self.progress(*counts)
            last = counts
            if not changed and inflight:
                time.sleep(backend.poll_seconds)

    def _journal_job(self, handle, request, ids, attempt):
        self.journal(
            {
                "event": "job",
                "job": handle,
                "request": request,
                "ids": list(ids),
                "attempt": attempt,
                "backend": self.backend.kind,
                "where": self.backend.where(handle),
            }
        )

    def _finish(self, sample, state, message, batch_size, queue, done):
        try:
            if state != "succeeded" and batch_size == 1:
                raise RuntimeError(message)
            score, task_scores = parse_result(self.backend.result(sample.spec))
            status = "ok"
        except Exception as error:  # noqa: BLE001 - a child's failure
            sample.errors.append(f"{type(error).__name__}: {error}"[-500:])
            sample.preemptions += state == "preempted"
            logging.warning(
                "Evaluation %d failed (attempt %d): %s",
                sample.sample_id,
                sample.attempt + 1,
                sample.errors[-1],
            )
            failures = len(sample.errors) - sample.preemptions
            if (
                state == "preempted"
                and sample.preemptions <= self.max_preemptions
            ) or (state != "preempted" and failures <= self.max_retries):
                sample.attempt += 1
                queue.append(sample)
                return
            score, task_scores, status = None, None, "failed"
        done(
            sample.sample_id,
            sample.params,
            {
                "score": score,
                "task_scores": task_scores,
                "status": status,
                "attempts": sample.attempt + 1,
                "errors": sample.errors,
                "seconds": time.time() - sample.started,
                "jobs": sample.jobs,
                "preemptions": sample.preemptions,
                "where": self.backend.where(sample.jobs[-1]),
            },
        )
