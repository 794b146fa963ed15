"""Sampling hard AdaShare architectures from a learned policy."""

import os


def missing_policy_error(policy_file):
    """The `FileNotFoundError` for a policy file that does not exist.

    A missing `best_policy.json` next to an existing `policy.json` means
    the run has not yet reached an evaluation where policies compete for
    the best (`SaveBestPolicy`); the message says how far it got.
    """
    from tfmtl.methods.adashare import policy_io

    last = os.path.join(os.path.dirname(policy_file), "policy.json")
    if os.path.basename(policy_file) != "policy.json" and os.path.exists(last):
        learned = policy_io.read_json(last)
        blocks = len(learned.get("blocks") or [])
        return FileNotFoundError(
            f"No best policy at {policy_file}: SaveBestPolicy writes it at "
            "the evaluations once the curriculum has unlocked every block, "
            f"and the last policy ({last}) is from step {learned['step']} "
            f"with {learned['num_train_layers']} of {blocks} blocks "
            "unlocked. Train longer (a larger TRAIN_STEPS resumes in the "
            f"same MODEL_DIR), or sample the last policy: --policy_file={last}"
        )
    return FileNotFoundError(
        f"No learned policy at {policy_file}; run the policy-learning "
        "phase (python -m tfmtl.train with an AdaShare config) first."
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
        raise missing_policy_error(policy_file)
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
