"""Retrains and tests every sampled AdaShare architecture (tfmtl.search).

Each sample `sample_<i>.json` (from `--mode=sample`) is one run of a
`RunList` driven by `SearchRunner`, scored by a `SubprocessEvaluator`
child (`retrain_main`) that retrains it from scratch in `retrain_<i>/` and
tests it. As the reference's `re-train.py` (`train`: `fix_random_seed(
opt["seed"][exp_id])` before each run), one seed per sample fixes the
sampled architecture, the initialisation and the data order: the child
binds `SEED` to the sample's seed. The runner's log
(`<model_dir>/retrain/search_log.jsonl`) makes a repeated command skip the
finished runs; an interrupted run resumes from its own checkpoints.
"""

import json
import os
import re
import sys

from tfmtl.methods.adashare.best_of import best_of, write_best_of
from tfmtl.search import SearchRunner, SubprocessEvaluator
from tfmtl.search.run_list import RunList

RETRAIN_GIN = "gin_configs/adashare/retrain.gin"
RETRAIN_MAIN = "tfmtl.methods.adashare.retrain_main"
LOG_DIR = "retrain"
_SAMPLE = re.compile(r"^sample_(\d+)\.json$")


def _read_json(path):
    with open(path) as f:
        return json.load(f)


class RetrainFailedError(RuntimeError):
    """A retrain failed every attempt."""


def sample_files(policy_dir, num_samples=None):
    """`{index: path}` of the samples in `policy_dir`, by index.

    Args:
        policy_dir: where `--mode=sample` wrote `sample_<i>.json`.
        num_samples: None (every sample there) or N (samples 0..N-1, each
            required).

    Raises:
        FileNotFoundError: no sample, or one of 0..N-1 is missing.
    """
    found = {}
    if os.path.isdir(policy_dir):
        for name in os.listdir(policy_dir):
            match = _SAMPLE.match(name)
            if match:
                found[int(match.group(1))] = os.path.join(policy_dir, name)
    if num_samples is not None:
        missing = [i for i in range(num_samples) if i not in found]
        if missing:
            raise FileNotFoundError(
                f"No sample_{missing[0]}.json in {policy_dir}; run "
                f"--mode=sample --num_samples={num_samples} first."
            )
        found = {i: found[i] for i in range(num_samples)}
    if not found:
        raise FileNotFoundError(
            f"No sample_<i>.json in {policy_dir}; run --mode=sample first."
        )
    return dict(sorted(found.items()))


def retrain_dir(model_dir, index):
    """`MODEL_DIR` of the retrain of sample `index`."""
    return os.path.join(model_dir, f"retrain_{index}")


def retrain_command(run_dir, policy_file, seed, gin_files, bindings, python):
    """Child arguments that retrain and test one sample.

    `retrain.gin` is appended to `gin_files` unless given; `POLICY_FILE`,
    `MODEL_DIR` and `SEED` (the sample's) are bound after the user's
    bindings.
    """
    files = list(gin_files)
    if not any(os.path.basename(f) == "retrain.gin" for f in files):
        files.append(RETRAIN_GIN)
    command = [python or sys.executable, "-m", RETRAIN_MAIN]
    command += [f"--run_dir={run_dir}"]
    command += [f"--gin_file={f}" for f in files]
    command += [f"--gin_bindings={b}" for b in bindings]
    command += [
        f"--gin_bindings=POLICY_FILE = {policy_file!r}",
        f"--gin_bindings=MODEL_DIR = {run_dir!r}",
        f"--gin_bindings=SEED = {int(seed)}",
    ]
    return command


def retrain(
    model_dir,
    gin_files,
    bindings=(),
    policy_dir=None,
    num_samples=None,
    num_workers=1,
    max_retries=1,
    devices=None,
    python=None,
):
    """Retrains and tests each sample; writes and returns the best-of report.

    Args:
        model_dir: the policy-learning run (retrains go to `retrain_<i>/`).
        gin_files: the benchmark file(s) of the policy run.
        bindings: extra gin bindings for every retrain.
        policy_dir: where the samples are (default `model_dir/policy`).
        num_samples: None (every sample) or N (samples 0..N-1).
        num_workers: retrains run at once.
        max_retries: extra attempts of a failed retrain.
        devices: GPU id per worker slot.
        python: interpreter of the children (default this one).

    Returns:
        `(runner summary, best_of report)`; the report is also written as
        `model_dir/retrain/best_of.{json,md}`.
    """
    if not gin_files:
        raise ValueError("--mode=retrain needs the benchmark --gin_file.")
    policy_dir = policy_dir or os.path.join(model_dir, "policy")
    samples = sample_files(policy_dir, num_samples)
    names = [f"sample_{i}" for i in samples]
    seeds = {
        f"sample_{i}": int(_read_json(p)["seed"]) for i, p in samples.items()
    }
    by_name = dict(zip(names, samples))
    searcher = RunList(names)
    search_dir = os.path.join(model_dir, LOG_DIR)

    def prepare(params, directory):
        del directory
        name = searcher.name_of(params)
        index = by_name[name]
        print(f"retrain {name} (seed {seeds[name]})", flush=True)
        run_dir = retrain_dir(model_dir, index)
        command = retrain_command(
            run_dir, samples[index], seeds[name], gin_files, bindings, python
        )
        return command[3:]

    command = [python or sys.executable, "-m", RETRAIN_MAIN]
    evaluate = SubprocessEvaluator(command, search_dir, prepare, devices)
    runner = SearchRunner(
        searcher,
        evaluate,
        search_dir,
        num_workers=num_workers,
        max_retries=max_retries,
    )
    summary = runner.run()
    if summary["failed"]:
        failed = [names[i] for i in summary["failed"]]
        raise RetrainFailedError(
            f"Retrains {failed} failed every attempt; see "
            f"{search_dir}/samples/<id>/log-<attempt>.txt."
        )
    run_dirs = {n: retrain_dir(model_dir, by_name[n]) for n in names}
    report = best_of(run_dirs, seeds)
    write_best_of(report, search_dir)
    return summary, report


def report(model_dir, policy_dir=None, num_samples=None):
    """The best-of report of retrains already tested; also written."""
    policy_dir = policy_dir or os.path.join(model_dir, "policy")
    samples = sample_files(policy_dir, num_samples)
    run_dirs = {f"sample_{i}": retrain_dir(model_dir, i) for i in samples}
    seeds = {
        f"sample_{i}": _read_json(p).get("seed") for i, p in samples.items()
    }
    result = best_of(run_dirs, seeds)
    write_best_of(result, os.path.join(model_dir, LOG_DIR))
    return result
