r"""AdaShare's non-training phase: sample hard architectures from a policy.

Usage (after policy learning with `python -m tfmtl.train`):
  tfmtl-adashare --mode=sample --model_dir=/tmp/adashare/nyu \
      --num_samples=8 --seed=10

(or `python -m tfmtl.methods.adashare.main ...`; `--phase` is a deprecated
alias of `--mode`, and `sample`, the only mode, is the default.)

Reads `model_dir/policy/policy.json` (written by the `SavePolicy` action;
`--policy_file=.../policy/best_policy.json` samples from the policy of the
best evaluation, written by `SaveBestPolicy`) and, for sample i, draws
every block of every task from Bernoulli(p(execute)) with seed `seed + i`
(blocks the curriculum has not unlocked execute). Each
sample is written as `sample_<i>.json` (`{"policy": {task: [0/1 ...]},
"seed": ...}`, the `POLICY_FILE` of `gin_configs/adashare/retrain.gin`) and
drawn as `sample_<i>.png` (tasks x blocks, dark = executed). Bad input ends
with one error line and exit status 2.
"""

import os

from absl import flags

from tfmtl import cli

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.adashare.main"
MODES = ("sample",)

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
    "Where samples go (default model_dir/policy).",
)
cli.define(
    __name__,
    "integer",
    "num_samples",
    8,
    "Architectures to sample.",
    lower_bound=1,
)
cli.define(
    __name__, "integer", "seed", 0, "Seed of the first sample (then +1 each)."
)


def sample_architectures(policy_file, output_dir, num_samples=8, seed=0):
    """Samples and writes `num_samples` hard policies; returns their paths.

    Args:
        policy_file: JSON written by `SavePolicy`.
        output_dir: destination directory.
        num_samples: number of samples.
        seed: seed of the first sample; sample i uses `seed + i`.

    Returns:
        List of the written JSON paths.
    """
    import numpy as np

    from tfmtl.methods.adashare import gumbel, policy_io

    if not os.path.exists(policy_file) and "://" not in policy_file:
        raise FileNotFoundError(
            f"No learned policy at {policy_file}; run the policy-learning "
            "phase (python -m tfmtl.train with an AdaShare config) first."
        )
    learned = policy_io.read_json(policy_file)
    logits = np.asarray(learned["logits"], np.float64)
    tasks = learned["tasks"]
    paths = []
    for i in range(num_samples):
        sample_seed = seed + i
        policy = gumbel.sample_policy(
            logits, sample_seed, learned.get("num_train_layers")
        )
        payload = {
            "policy": {t: policy[k].tolist() for k, t in enumerate(tasks)},
            "seed": sample_seed,
            "source": policy_file,
            "step": learned.get("step"),
            "blocks": learned.get("blocks"),
        }
        path = os.path.join(output_dir, f"sample_{i}.json")
        policy_io.write_json(path, payload)
        policy_io.write_png(
            os.path.join(output_dir, f"sample_{i}.png"),
            policy_io.policy_image(policy),
        )
        paths.append(path)
    return paths


def _run():
    cli.check_mode(MODES, default="sample")
    if not FLAGS.model_dir and not FLAGS.policy_file:
        raise ValueError("--model_dir or --policy_file is required.")
    policy_dir = os.path.join(FLAGS.model_dir or "", "policy")
    policy_file = FLAGS.policy_file or os.path.join(policy_dir, "policy.json")
    output_dir = FLAGS.output_dir or (
        policy_dir if FLAGS.model_dir else os.path.dirname(policy_file)
    )
    paths = sample_architectures(
        policy_file, output_dir, FLAGS.num_samples, FLAGS.seed
    )
    for path in paths:
        print(path)


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__, aliases={"phase": "mode"})


if __name__ == "__main__":
    main()
