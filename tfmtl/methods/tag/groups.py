r"""Stages (c) and (d) of the TAG workflow, and HOA's pairwise runs.

Train one network per selected group, then read each task out of the group
that serves it (`--mode=report` prints the test results of each group's best
validation step, written by `RestoreBest`; `--report_split=validation` reads
validation instead):

  tfmtl-tag-groups --mode=train --groups=/tmp/tag/all/groups.json \
      --base_dir=/tmp/tag/groups --gin_file=gin_configs/tag/synthetic_tag.gin
  tfmtl-tag-groups --mode=report --groups=/tmp/tag/all/groups.json \
      --base_dir=/tmp/tag/groups

Higher-order approximation (HOA): train every task alone and every pair, then
turn their validation losses into an affinity file for `tfmtl-select-groups
--mode=hoa`:

  tfmtl-tag-groups --mode=train_pairs --tasks=a,b,c \
      --base_dir=/tmp/hoa --gin_file=...
  tfmtl-tag-groups --mode=hoa_matrix --tasks=a,b,c --base_dir=/tmp/hoa

(or `python -m tfmtl.methods.tag.groups ...`; `--action` is a deprecated
alias of `--mode`). Each training run is `python -m tfmtl train
--mode=train_and_evaluate` in a child process (`group_run_main`) with
`TASK_NAMES` and `MODEL_DIR` bound and the affinity recorder off (extra
`--gin_bindings`, or `--gin.NAME=VALUE`, are forwarded). The runs go
through `tfmtl.search`'s `SearchRunner` and `SubprocessEvaluator`
(`--num_workers` at once, one retry, log in `BASE_DIR/group_runs` or
`BASE_DIR/pair_runs`), so a repeated command skips finished runs and an
interrupted run resumes from its checkpoints. `--backend=vertex` with the
Vertex AI flags of `scripts/launch_vertex.py` runs each one as a Vertex AI
job (`tfmtl.search.backend_flags`, docs/vertex_outer_loops.md).
"""

import itertools
import json
import os
import sys

from absl import flags

from tfmtl import cli
from tfmtl.methods.tag.affinity_file import save_affinity
from tfmtl.search import SearchRunner, SubprocessEvaluator, backend_flags
from tfmtl.search.run_list import RunList
from tfmtl.trainers.restore_best import BEST_RESULTS

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.tag.groups"
GROUP_RUN = "tfmtl.methods.tag.group_run_main"
MODES = ("train", "report", "train_pairs", "hoa_matrix")
_DEFAULT_METRIC = "loss/{task}"

cli.define_common(__name__)
cli.define_mode(__name__, MODES)
cli.define(
    __name__, "string", "groups", None, "groups.json from select_groups."
)
cli.define(__name__, "list", "tasks", None, "Tasks (train_pairs / hoa_matrix).")
cli.define(
    __name__, "string", "base_dir", None, "Directory holding one run each."
)
cli.define_gin_flags(__name__)
cli.define(__name__, "integer", "num_workers", 1, "Runs trained at once.")
cli.define(__name__, "list", "devices", None, "GPU id per worker slot.")
backend_flags.define(__name__)
cli.define(
    __name__,
    "string",
    "metric",
    _DEFAULT_METRIC,
    "Result key per task ({task} is replaced).",
)
cli.define(
    __name__,
    "string",
    "report_split",
    "test",
    "Split --mode=report reads: 'test' (best weights, needs RestoreBest) "
    "or 'validation'.",
)


def run_dir(base_dir, tasks):
    """Model directory of the run that trains `tasks` together."""
    return os.path.join(base_dir, "+".join(tasks))


def load_groups(path):
    """Reads `groups.json` written by `tfmtl.methods.tag.select_main`."""
    with open(path) as f:
        payload = json.load(f)
    groups = [tuple(g) for g in payload["groups"]]
    serving = {t: tuple(g) for t, g in payload["serving"].items()}
    return groups, serving


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def results(base_dir, tasks, split="validation"):
    """Results of a run on `split`, or None if it has none yet.

    With `RestoreBest` in the run (`best_results.json`), "validation" is
    the evaluation at the best step and "test" the test split scored with
    the restored best weights, as the colab reports. Without it only
    "validation" exists: the final evaluation (`eval_results.json`).
    """
    directory = run_dir(base_dir, tasks)
    best = _read(os.path.join(directory, BEST_RESULTS))
    if best is not None:
        if split == "validation":
            return best["validation"]
        return best["test"] if best["split"] == split else None
    if split != "validation":
        return None
    final = _read(os.path.join(directory, "eval_results.json"))
    return None if final is None else final["results"]


def run_command(base_dir, tasks, gin_files, bindings, python=None):
    """Child arguments that train `tasks` as a plain MTL run.

    The group and pair runs reuse the TAG configuration, but the paper
    trains them without measuring affinity (the colab's `fast_mtl`), so
    `AFFINITY_ENABLED = False` is bound before the user's bindings (which
    may turn it back on).
    """
    command = [python or sys.executable, "-m", GROUP_RUN]
    command += [f"--run_dir={run_dir(base_dir, tasks)}"]
    command += [f"--gin_file={f}" for f in gin_files]
    command += ["--gin_bindings=AFFINITY_ENABLED = False"]
    command += ["--gin_unused_ok=AFFINITY_ENABLED"]  # Configs without TAG.
    command += [f"--gin_bindings={b}" for b in bindings]
    command += [
        f"--gin_bindings=TASK_NAMES = {list(tasks)!r}",
        f"--gin_bindings=MODEL_DIR = {run_dir(base_dir, tasks)!r}",
    ]
    return command


def train(
    base_dir,
    runs,
    gin_files,
    bindings,
    log_name="runs",
    num_workers=1,
    max_retries=1,
    devices=None,
    python=None,
    backend=None,
):
    """Trains each run (a tuple of tasks) through `tfmtl.search`.

    Each run is one `SubprocessEvaluator` child of a `SearchRunner` over a
    `RunList`; the runner's log (`base_dir/<log_name>/search_log.jsonl`)
    makes a repeated command skip finished runs, and an interrupted run
    resumes from its own checkpoints. `backend` is a factory of
    `tfmtl.search.backend_flags` (None: child processes in threads).
    Returns the runner's summary.
    """
    runs = [tuple(r) for r in runs]
    names = ["+".join(r) for r in runs]
    by_name = dict(zip(names, runs))
    searcher = RunList(names)
    search_dir = os.path.join(base_dir, log_name)
    command = [python or sys.executable, "-m", GROUP_RUN]

    def prepare(params, directory):
        del directory
        tasks = by_name[searcher.name_of(params)]
        print(f"train {'+'.join(tasks)}", flush=True)
        return run_command(base_dir, tasks, gin_files, bindings, python)[3:]

    def outputs(params):
        run = run_dir(base_dir, by_name[searcher.name_of(params)])
        return [
            os.path.join(run, n) for n in ("eval_results.json", BEST_RESULTS)
        ]

    evaluate = SubprocessEvaluator(
        command, search_dir, prepare, devices, outputs=outputs
    )
    if backend is not None:
        evaluate = backend(evaluate, base_dir, num_workers, devices)
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
        raise RuntimeError(
            f"Runs {failed} failed every attempt; see {search_dir}/samples."
        )
    return summary


def report(base_dir, groups, serving, metric=_DEFAULT_METRIC, split="test"):
    """Per-task results read from each task's serving group.

    Args:
        base_dir: Directory holding one run per group.
        groups: The trained groups.
        serving: Dict mapping task to the group that serves it.
        metric: Key pattern of the results, e.g. "loss/{task}" or
            "metric/{task}/error".
        split: "test" (the restored best weights of `RestoreBest`) or
            "validation" (at the best step, else the final evaluation).

    Returns:
        `({task: value}, total)`.
    """
    missing = [g for g in groups if results(base_dir, g, split) is None]
    if missing:
        hint = "run --mode=train first"
        if split != "validation":
            hint += f" with RestoreBest(split={split!r}) in the config"
        raise FileNotFoundError(
            f"No {split} results for groups {missing} under {base_dir}; {hint}."
        )
    per_task = {}
    for task, group in serving.items():
        key = metric.format(task=task)
        values = results(base_dir, group, split)
        if key not in values:
            raise KeyError(f"{key!r} is not in the results of {group}.")
        per_task[task] = values[key]
    return per_task, sum(per_task.values())


def pair_runs(tasks):
    """Every task alone and every pair, as HOA needs."""
    return [(t,) for t in tasks] + list(itertools.combinations(tasks, 2))


def hoa_matrix(base_dir, tasks, metric=_DEFAULT_METRIC):
    """HOA's matrix: `A[target][source]` = target's result trained with
    source; the diagonal is the target trained alone.

    HOA selects groups, so it reads validation results (at the best step
    when the runs have `RestoreBest`), never the test split.
    """
    matrix = []
    for target in tasks:
        row = []
        for source in tasks:
            run = (
                (target,)
                if source == target
                else tuple(t for t in tasks if t in (target, source))
            )
            values = results(base_dir, run)
            if values is None:
                raise FileNotFoundError(
                    f"Run {'+'.join(run)} has no results under {base_dir}; "
                    "run --mode=train_pairs first."
                )
            row.append(values[metric.format(task=target)])
        matrix.append(row)
    return matrix


def _run():
    fl = FLAGS
    if not fl.mode or not fl.base_dir:
        raise ValueError("--mode and --base_dir are required.")
    cli.check_mode(MODES)
    if fl.mode in ("train", "report"):
        if not fl.groups:
            raise ValueError(f"--mode={fl.mode} needs --groups.")
        groups, serving = load_groups(fl.groups)
    elif not fl.tasks:
        raise ValueError(f"--mode={fl.mode} needs --tasks.")
    if fl.mode == "train":
        train(
            fl.base_dir,
            groups,
            fl.gin_file,
            fl.gin_bindings,
            "group_runs",
            fl.num_workers,
            devices=fl.devices,
            backend=backend_flags.from_flags("tfmtl-tag-groups"),
        )
    elif fl.mode == "train_pairs":
        train(
            fl.base_dir,
            pair_runs(fl.tasks),
            fl.gin_file,
            fl.gin_bindings,
            "pair_runs",
            fl.num_workers,
            devices=fl.devices,
            backend=backend_flags.from_flags("tfmtl-hoa-pairs"),
        )
    elif fl.mode == "report":
        split = fl.report_split
        per_task, total = report(fl.base_dir, groups, serving, fl.metric, split)
        for task, value in per_task.items():
            group = "+".join(serving[task])
            print(f"{task:<24}{value:>12.6g}   {split} of {group}")
        print(f"{'total':<24}{total:>12.6g}")
    else:
        matrix = hoa_matrix(fl.base_dir, fl.tasks, fl.metric)
        path = os.path.join(fl.base_dir, "hoa_affinity.json")
        save_affinity(path, list(fl.tasks), matrix, kind="hoa")
        print(f"wrote {path}")


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__, aliases={"action": "mode"})


if __name__ == "__main__":
    main()
