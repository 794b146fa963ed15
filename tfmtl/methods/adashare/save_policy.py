"""The action saving AdaShare's learned policy as JSON, PNG and summary."""

import os

import numpy as np

from tfmtl.methods.adashare import policy_io
from tfmtl.trainers.actions import Action


class SavePolicy(Action):
    """Writes the learned policy to `model_dir/policy/` and TensorBoard.

    `policy.json` holds the step, tasks, block names, logits [T, L, 2],
    p(execute) [T, L], temperature and unlocked blocks (what
    `python -m tfmtl.methods.adashare.main --mode=sample` reads);
    `policy.png` draws
    p(execute) as a tasks x blocks grid (dark = executed), also written as
    the image summary `train/dense/adashare_policy`.

    Args:
        every_n_steps: steps between saves (default: one policy epoch of
            `schedule`).
        schedule: an `AdaShareSchedule`.

    Example:
    ```python
    actions = [SavePolicy(every_n_steps=50)]
    ```
    """

    def __init__(self, every_n_steps=None, schedule=None):
        if every_n_steps is None:
            if schedule is None:
                raise ValueError("SavePolicy needs every_n_steps or schedule.")
            every_n_steps = schedule.cycle_steps
        super().__init__(every_n_steps, "train")

    def __call__(self, step, logs, context):
        save(context, step)


def save(context, step, name="policy", extra=None):
    """Writes `<name>.json` / `<name>.png` for the context's model.

    Args:
        context: the run's `RunContext`.
        step: int, the training step.
        name: file name stem under `model_dir/policy/`; also the image
            summary `adashare_<name>`.
        extra: optional dict merged into the JSON payload.

    Returns:
        The payload, or None (fixed policy, or not the chief).
    """
    sharing = context.model.sharing
    if not sharing.learns_policy or not context.is_chief:
        return None
    logits = np.asarray(sharing.policy_logits.numpy(), np.float64)
    p_exec = sharing.execute_probabilities()
    directory = os.path.join(context.model_dir, "policy")
    payload = {
        "step": int(step),
        "tasks": list(sharing.tasks),
        "blocks": [b.name for b in sharing.backbone.blocks],
        "logits": logits.tolist(),
        "p_execute": p_exec.tolist(),
        "temperature": float(sharing.temperature.numpy()),
        "num_train_layers": int(sharing.num_train_layers.numpy()),
        **(extra or {}),
    }
    policy_io.write_json(os.path.join(directory, f"{name}.json"), payload)
    image = policy_io.policy_image(p_exec)
    policy_io.write_png(os.path.join(directory, f"{name}.png"), image)
    summary = {f"adashare_{name}": image[None]}
    context.writer.images("train", summary, step)
    return payload
