r"""Picks task groups (networks) from an affinity matrix: TAG's selection step.

Usage:
  tfmtl-select-groups --affinity=<model_dir>/affinity.json \
      --budget=3 [--mode=tag|cs|hoa|rg] [--seed=0] [--output=groups.json]

(or `python -m tfmtl.methods.tag.select_main ...`). Prints the groups, the
group serving each task and the total (mean) score, and writes them to
`groups.json` next to the affinity file (or `--output`). `--mode` (the
selection method; `--method` is its deprecated alias) defaults to the
file's `kind`; `rg` draws random groups (seeded) and scores them with the
file's kind. Bad input (a missing or malformed file, a budget outside [1,
number of tasks]) ends with one error line and exit status 2.
"""

import json
import os

from absl import flags

from tfmtl import cli
from tfmtl.methods.tag import affinity_file, network_selection

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.tag.select_main"
MODES = ("tag", "cs", "hoa", "rg")

cli.define_common(__name__)
cli.define_mode(__name__, MODES, help_text="Default: the file's kind.")
cli.define(
    __name__, "string", "affinity", None, "affinity.json written by training."
)
cli.define(
    __name__, "integer", "budget", None, "Maximum number of groups (networks)."
)
cli.define(__name__, "integer", "seed", 0, "Seed for --mode=rg.")
cli.define(
    __name__,
    "string",
    "output",
    None,
    "Default: groups.json beside --affinity.",
)


def run(affinity_path, budget, method=None, seed=0, output=None):
    """Selects groups, writes the JSON result and returns the report text."""
    if affinity_path is None:
        raise ValueError("--affinity is required")
    if budget is None:
        raise ValueError("--budget is required")
    tasks, matrix, meta = affinity_file.load_affinity(affinity_path)
    kind = meta["kind"]
    method = method or kind
    if (method == "hoa") != (kind == "hoa") and method != "rg":
        raise ValueError(f"--mode={method} does not fit a {kind!r} file")
    score_method = kind if method == "rg" else method
    if not 1 <= budget <= len(tasks):
        raise ValueError(
            f"--budget must be in [1, {len(tasks)}] for {len(tasks)} tasks, "
            f"got {budget}"
        )
    if method == "rg":
        groups = network_selection.random_groups(tasks, budget, seed)
        selection = network_selection.score_groups(
            matrix, groups, tasks=tasks, method=score_method
        )
    else:
        selection = network_selection.select_groups(
            matrix, budget, tasks=tasks, method=method
        )
    output = output or os.path.join(
        os.path.dirname(os.path.abspath(affinity_path)), "groups.json"
    )
    result = {
        "method": method,
        "budget": budget,
        "affinity": os.path.abspath(affinity_path),
        "objective": "minimise" if score_method == "hoa" else "maximise",
        "score": selection.score,
        "groups": [list(g) for g in selection.groups],
        "serving": {t: list(g) for t, g in selection.serving.items()},
        "task_scores": selection.task_scores,
    }
    if method == "rg":
        result["seed"] = seed
    with open(output, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    index = {g: i + 1 for i, g in enumerate(selection.groups)}
    lines = [f"method={method} budget={budget} tasks={len(tasks)}"]
    for g in selection.groups:
        lines.append(f"group {index[g]}: {', '.join(g)}")
    for t in tasks:
        g = selection.serving[t]
        score = selection.task_scores[t]
        lines.append(f"  {t} <- group {index[g]} (score {score:.6g})")
    lines.append(f"score: {selection.score:.6g} ({result['objective']}d)")
    lines.append(f"wrote {output}")
    return "\n".join(lines)


def _run():
    if FLAGS.mode is not None:
        cli.check_mode(MODES)
    print(
        run(FLAGS.affinity, FLAGS.budget, FLAGS.mode, FLAGS.seed, FLAGS.output)
    )


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__, aliases={"method": "mode"})


if __name__ == "__main__":
    main()
