r"""AdaShare's phases after policy learning: sample, retrain, report.

Usage (after policy learning with `python -m tfmtl.train`):
  tfmtl-adashare --mode=sample --model_dir=/tmp/adashare/nyu \
      --policy_file=/tmp/adashare/nyu/policy/best_policy.json --num_samples=8
  tfmtl-adashare --mode=retrain --model_dir=/tmp/adashare/nyu \
      --gin_file=gin_configs/adashare/nyu_v2_2task.gin \
      --gin.DATA_DIR="'/data/nyu_v2_2task'" --num_workers=1
  tfmtl-adashare --mode=report --model_dir=/tmp/adashare/nyu

(or `python -m tfmtl.methods.adashare.main ...`; `--phase` is a deprecated
alias of `--mode`; `sample` is the default.)

`sample` reads `model_dir/policy/policy.json` (written by the `SavePolicy`
action; `--policy_file=.../policy/best_policy.json` samples from the policy
of the best evaluation, written by `SaveBestPolicy`) and, for sample i,
draws every block of every task from Bernoulli(p(execute)) with seed
`seed + i` (blocks the curriculum has not unlocked execute). Each sample is
written as `sample_<i>.json` (`{"policy": {task: [0/1 ...]}, "seed": ...}`,
the `POLICY_FILE` of `gin_configs/adashare/retrain.gin`) and drawn as
`sample_<i>.png` (tasks x blocks, dark = executed).

`retrain` retrains every sample from scratch in `model_dir/retrain_<i>`
(the benchmark `--gin_file`s plus `retrain.gin`, `SEED` = the sample's
seed, as the reference reseeds each retrain) and tests it on the whole test
split (`test.gin`), through `tfmtl.search` (`--num_workers` at once, one
retry; log in `model_dir/retrain/`): a repeated command skips finished
runs, an interrupted one resumes from its checkpoints. It ends with the
best-of report, which `report` prints again: one row per retrain, ranked
by Δ_T (`model_dir/retrain/best_of.{json,md}`; see `best_of`). Bad input
ends with one error line and exit status 2.
"""

import os

from absl import flags

from tfmtl import cli
from tfmtl.methods.adashare import best_of, retrain_samples, sampling

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.adashare.main"
MODES = ("sample", "retrain", "report")

cli.define_common(__name__)
cli.define_mode(__name__, MODES, default="sample")
cli.define(__name__, "string", "model_dir", None, "The policy-learning run.")
cli.define(
    __name__,
    "string",
    "policy_file",
    None,
    "Policy JSON (default model_dir/policy/policy.json).",
)
cli.define(
    __name__,
    "string",
    "output_dir",
    None,
    "Where samples go / are read (default model_dir/policy).",
)
cli.define_gin_flags(__name__)
cli.define(__name__, "integer", "num_workers", 1, "Retrains run at once.")
cli.define(__name__, "list", "devices", None, "GPU id per worker slot.")
cli.define(
    __name__,
    "integer",
    "num_samples",
    8,
    "Architectures to sample (retrain / report: samples 0..N-1; "
    "default every sample there).",
    lower_bound=1,
)
cli.define(
    __name__, "integer", "seed", 0, "Seed of the first sample (then +1 each)."
)


def _run():
    mode = cli.check_mode(MODES, default="sample")
    if not FLAGS.model_dir and not (mode == "sample" and FLAGS.policy_file):
        raise ValueError(
            "--model_dir is required"
            + (" (or --policy_file)." if mode == "sample" else ".")
        )
    policy_dir = os.path.join(FLAGS.model_dir or "", "policy")
    policy_file = FLAGS.policy_file or os.path.join(policy_dir, "policy.json")
    output_dir = FLAGS.output_dir or (
        policy_dir if FLAGS.model_dir else os.path.dirname(policy_file)
    )
    if mode == "sample":
        paths = sampling.sample_architectures(
            policy_file, output_dir, FLAGS.num_samples, FLAGS.seed
        )
        for path in paths:
            print(path)
        return
    # Every sample there, unless --num_samples is given.
    num_samples = FLAGS.num_samples if FLAGS["num_samples"].present else None
    if mode == "retrain":
        _, report = retrain_samples.retrain(
            FLAGS.model_dir,
            FLAGS.gin_file,
            FLAGS.gin_bindings,
            policy_dir=output_dir,
            num_samples=num_samples,
            num_workers=FLAGS.num_workers,
            devices=FLAGS.devices,
        )
    else:
        report = retrain_samples.report(
            FLAGS.model_dir, output_dir, num_samples
        )
    print(best_of.format_best_of(report), end="")


_main = cli.absl_main(
    _run, PROG, user_errors=(retrain_samples.RetrainFailedError,)
)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__, aliases={"phase": "mode"})


if __name__ == "__main__":
    main()
