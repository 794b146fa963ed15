"""Runs an ask/tell search: parallel evaluations, retries, resumable log.

Every finished evaluation is appended to `<search_dir>/search_log.jsonl` as
one JSON line (`id`, `generation`, `params`, `score`, `status`, `attempts`,
`error`, `seconds`). Proposals of a searcher depend only on its seed
and the scores told so far, so after an interruption the runner replays the
log: it asks the searcher again, takes the logged scores of candidates it has
already evaluated and only runs the missing ones. A crashed evaluation is
retried `max_retries` times; if it keeps failing it is logged as failed and
scored `worst_score`.

Instead of a callable, `evaluate` may be a backend (`LocalBackend`: child
processes, one GPU each; `VertexBackend`: Vertex AI custom jobs). Its jobs
are driven by `JobDriver`, which journals every submitted job in the same
log (lines with `"event": "job"` and the job's name), so a restarted
runner re-attaches to running jobs instead of submitting them again. A
backend with a `dry_run` setting (`DryRun`) makes `run` print the jobs and
their cost instead (`dry_run.py`). `report.txt` says what ran where.

The log is also written as TensorBoard scalars (`search/score`,
`search/best_score` against the number of evaluations) and as the plot
`best_score.svg`; `best.json` holds the best candidate so far.

The runner is method-neutral. A searcher has `ask()`, `tell(scores,
task_scores=None)`, `done`, `generation`, `num_evaluations`, `num_tasks`,
`best_params` and `best_score`, and optionally `describe(params)` (a dict
merged into the summary, e.g. the best candidate decoded) and
`progress_scalars()` (a dict of TensorBoard scalars per generation).
"""

import concurrent.futures
import json
import os
import time

import numpy as np
from absl import logging

from tfmtl.search import progress
from tfmtl.search.job_driver import JobDriver, parse_result
from tfmtl.search.plot import write_plot

LOG_NAME = "search_log.jsonl"


class SearchRunner:
    """Drives an ask/tell searcher with a pool of parallel workers.

    Args:
        searcher: An ask/tell searcher (e.g. feature partitioning's ES,
            random or grid search).
        evaluate: Callable `(sample_id, params, attempt, worker) -> score`
            (a float, or a dict with `score` and optionally `task_scores`,
            one per task, for multi-objective ES) that raises on failure;
            `worker` in `[0, num_workers)` (e.g. to pick a GPU). Called
            from worker threads; use subprocesses for training
            (`SubprocessEvaluator`). Or a backend (`LocalBackend`,
            `VertexBackend`), whose `max_jobs` replaces `num_workers`.
        search_dir: Directory of the log and summaries.
        num_workers: Evaluations run at once.
        max_retries: Extra attempts after a failed evaluation.
        worst_score: Score of an evaluation that failed every attempt.
    """

    def __init__(
        self,
        searcher,
        evaluate,
        search_dir,
        num_workers=4,
        max_retries=1,
        worst_score=0.0,
    ):
        self.searcher, self.evaluate = searcher, evaluate
        self.search_dir = str(search_dir)
        self.num_workers = int(num_workers)
        self.max_retries = int(max_retries)
        self.worst_score = float(worst_score)
        self.log_path = os.path.join(self.search_dir, LOG_NAME)
        self.records, self.jobs = {}, {}
        self._history = []
        self._writer = None
        self._driver = None
        if hasattr(evaluate, "submit"):
            self.num_workers = evaluate.max_jobs
            self._driver = JobDriver(
                evaluate, self._append, self.max_retries, self._progress
            )

    # ------------------------------------------------------------------ log
    def _read_log(self):
        if not os.path.exists(self.log_path):
            return
        with open(self.log_path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    # A line cut off by the interruption: run it again.
                    logging.warning("Ignoring a truncated search log line.")
                    continue
                if record.get("event") in ("submit", "job"):
                    for sample_id in record["ids"]:
                        self.jobs[int(sample_id)] = record
                    continue
                self.records[int(record["id"])] = record
        logging.info(
            "Resuming search: %d logged evaluations.", len(self.records)
        )

    def _append(self, record):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _summaries(self, record):
        self._history.append(record["score"])
        best = float(np.max(self._history))
        count = len(self._history)
        import tensorflow as tf

        with self._summary_writer().as_default():
            tf.summary.scalar("search/score", record["score"], step=count)
            tf.summary.scalar("search/best_score", best, step=count)
        self._writer.flush()

    def _summary_writer(self):
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.search_dir)
        return self._writer

    def _generation_summaries(self, scores):
        """Mean score of a generation and the searcher's own scalars."""
        import tensorflow as tf

        values = {"search/generation_mean_score": float(np.mean(scores))}
        progress = getattr(self.searcher, "progress_scalars", None)
        if progress is not None:
            values.update(progress())
        with self._summary_writer().as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=len(self._history))
        self._writer.flush()

    # ------------------------------------------------------------ evaluation
    def _attempts(self, sample_id, params, worker):
        errors, started = [], time.time()
        for attempt in range(self.max_retries + 1):
            try:
                result = self.evaluate(sample_id, params, attempt, worker)
                score, task_scores = parse_result(result)
                return {
                    "score": score,
                    "task_scores": task_scores,
                    "status": "ok",
                    "attempts": attempt + 1,
                    "errors": errors,
                    "seconds": time.time() - started,
                }
            except Exception as error:  # noqa: BLE001 - a child's failure
                errors.append(f"{type(error).__name__}: {error}"[-500:])
                logging.warning(
                    "Evaluation %d failed (attempt %d/%d): %s",
                    sample_id,
                    attempt + 1,
                    self.max_retries + 1,
                    errors[-1],
                )
        return {
            "score": None,
            "task_scores": None,
            "status": "failed",
            "attempts": self.max_retries + 1,
            "errors": errors,
            "seconds": time.time() - started,
        }

    def _finish(self, generation, sample_id, params, outcome):
        """Logs one finished evaluation (`outcome` from a worker or job)."""
        if outcome["score"] is None:
            outcome["score"] = self.worst_score
        seconds = round(outcome.pop("seconds"), 3)
        record = {
            "id": sample_id,
            "generation": generation,
            "params": [float(v) for v in params],
            **outcome,
            "seconds": seconds,
        }
        self.records[sample_id] = record
        self._append(record)
        self._summaries(record)

    def _run_batch(self, pool, generation, first_id, batch):
        missing = []
        for offset, params in enumerate(batch):
            sample_id = first_id + offset
            record = self.records.get(sample_id)
            if record is not None and not np.allclose(
                record["params"], params, atol=1e-9
            ):
                raise ValueError(
                    f"Search log {self.log_path} does not match this search "
                    f"(evaluation {sample_id} differs); use a new directory "
                    "or the same searcher settings."
                )
            if record is None:
                missing.append((sample_id, params))
        if self._driver is not None:
            self._driver.run(
                missing,
                self.jobs,
                lambda i, p, outcome: self._finish(generation, i, p, outcome),
            )
            free, missing = [], []
        else:
            free = list(range(self.num_workers))
        pending = {}
        queue = list(missing)
        while queue or pending:
            while queue and free:
                sample_id, params = queue.pop(0)
                worker = free.pop(0)
                future = pool.submit(self._attempts, sample_id, params, worker)
                pending[future] = (sample_id, params, worker)
            done, _ = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                sample_id, params, worker = pending.pop(future)
                free.append(worker)
                self._finish(generation, sample_id, params, future.result())
        records = [self.records[first_id + i] for i in range(len(batch))]
        return [r["score"] for r in records], [
            r.get("task_scores") for r in records
        ]

    def run(self):
        """Runs (or resumes) the search to its budget; returns a summary.

        Returns:
            Dict with `best_score`, `best_params`, the searcher's
            `describe(best_params)` entries, `num_evaluations`, `failed`
            (ids that failed every attempt) and
            `retried` (ids that needed more than one attempt).
        """
        os.makedirs(self.search_dir, exist_ok=True)
        if getattr(self.evaluate, "dry_run", None) is not None:
            return self.evaluate.dry_run.report(self.searcher, self.evaluate)
        self._read_log()
        for record in sorted(self.records.values(), key=lambda r: r["id"]):
            self._summaries(record)
        with concurrent.futures.ThreadPoolExecutor(self.num_workers) as pool:
            while not self.searcher.done:
                generation = self.searcher.generation
                first_id = self.searcher.num_evaluations
                batch = self.searcher.ask()
                scores, task_scores = self._run_batch(
                    pool, generation, first_id, batch
                )
                self.searcher.tell(scores, self._task_matrix(task_scores))
                self._generation_summaries(scores)
                self._write_best()
                write_plot(
                    self._history,
                    os.path.join(self.search_dir, "best_score.svg"),
                )
        self._write_report()
        return self.summary()

    def _progress(self, running, queued):
        """Console line and TensorBoard scalars of the jobs' progress."""
        import tensorflow as tf

        values = progress.values(self.records, self._history, running, queued)
        print(f"[{self.search_dir}] {progress.line(values)}", flush=True)
        with self._summary_writer().as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=len(self._history))
        self._writer.flush()

    def _write_report(self):
        with open(os.path.join(self.search_dir, "report.txt"), "w") as f:
            f.write(progress.report(self.records))

    def _task_matrix(self, task_scores):
        """[K, N] per-task scores; a failed child gets `worst_score`."""
        if all(t is None for t in task_scores):
            return None
        n = self.searcher.num_tasks
        return np.array(
            [[self.worst_score] * n if t is None else t for t in task_scores]
        )

    def summary(self):
        """Best result and failure report of the search so far."""
        records = sorted(self.records.values(), key=lambda r: r["id"])
        best = self.searcher.best_params
        summary = {
            "best_score": self.searcher.best_score,
            "best_params": None if best is None else best.tolist(),
        }
        describe = getattr(self.searcher, "describe", None)
        if describe is not None:
            summary.update(describe(best))
        summary.update(
            num_evaluations=len(records),
            failed=[r["id"] for r in records if r["status"] != "ok"],
            retried=[r["id"] for r in records if r["attempts"] > 1],
            ran_where={r["id"]: r.get("where", "in process") for r in records},
        )
        return summary

    def _write_best(self):
        path = os.path.join(self.search_dir, "best.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.summary(), f, indent=1)
        os.replace(path + ".tmp", path)
