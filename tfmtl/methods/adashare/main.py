r"""AdaShare's non-training phase: sample hard architectures from a policy.

Usage (after policy learning with `python -m tfmtl.train`):
  python -m tfmtl.methods.adashare.main --phase=sample \
      --model_dir=/tmp/adashare/nyu \
      --num_samples=8 --seed=10

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
import sys

from absl import app, flags

# Defines --traceback (reused here) and the one-line error format.
from tfmtl.train import one_line

FLAGS = flags.FLAGS

flags.DEFINE_enum("phase", "sample", ["sample"], "What to run.")
flags.DEFINE_string("model_dir", None, "The policy-learning run.")
flags.DEFINE_string(
    "policy_file", None, "Policy JSON (default model_dir/policy/policy.json)."
)
flags.DEFINE_string(
    "output_dir", None, "Where samples go (default model_dir/policy)."
)
flags.DEFINE_integer(
    "num_samples", 8, "Architectures to sample.", lower_bound=1
)
flags.DEFINE_integer("seed", 0, "Seed of the first sample (then +1 each).")


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


def _main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir and not FLAGS.policy_file:
        raise app.UsageError("--model_dir or --policy_file is required.")
    policy_dir = os.path.join(FLAGS.model_dir or "", "policy")
    policy_file = FLAGS.policy_file or os.path.join(policy_dir, "policy.json")
    output_dir = FLAGS.output_dir or (
        policy_dir if FLAGS.model_dir else os.path.dirname(policy_file)
    )
    try:
        paths = sample_architectures(
            policy_file, output_dir, FLAGS.num_samples, FLAGS.seed
        )
    except (ValueError, OSError, KeyError) as error:
        if FLAGS.traceback:
            raise
        print(
            f"tfmtl.methods.adashare.main: error: {one_line(error)}",
            file=sys.stderr,
        )
        sys.exit(2)
    for path in paths:
        print(path)


def main():
    app.run(_main)


if __name__ == "__main__":
    main()
