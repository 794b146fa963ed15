"""Visual Decathlon score of per-task accuracies.

Each task t scores `alpha_t * max(0, E_max_t - E_t) ** gamma` with the
error `E_t = 1 - accuracy`, the cap `E_max_t = 2 * baseline error`,
`gamma = 2` and `alpha_t = 1000 / E_max_t ** gamma`, so a task at the
baseline scores 250 and a perfect one 1000; the score is the sum over the
tasks given (Rebuffi et al., "Learning multiple visual domains with
residual adapters", NeurIPS 2017, section 5; the constants of the feature
partitioning reference, `util/calc.py::decathlon_score` of
github.com/google/multi-task-architecture-search).
"""

import numpy as np

from tfmtl.data.decathlon_tasks import TASKS

#: Baseline accuracies (%) of the reference, `util/calc.py::decathlon_score`,
#: in its task order (`util/datasets/decathlon.py::task_names`).
BASELINE_ACCURACY = dict(
    zip(
        TASKS,
        (59.87, 60.34, 82.12, 92.82, 55.53, 97.53, 81.41, 87.69, 96.55, 51.20),
    )
)
GAMMA = 2.0


def decathlon_score(accuracies):
    """Decathlon score of the tasks in `accuracies`.

    Args:
        accuracies: `{task: accuracy}` with accuracies in [0, 1] and task
            names of `tfmtl.data.decathlon_tasks.TASKS`.

    Returns:
        `(total, {task: score})`, floats; the total sums the given tasks.

    Raises:
        ValueError: on an unknown task or an accuracy outside [0, 1].

    Example:
    ```python
    total, per_task = decathlon_score({"aircraft": 0.6034})  # 250.0
    ```
    """
    per_task = {}
    for task, accuracy in accuracies.items():
        if task not in BASELINE_ACCURACY:
            raise ValueError(
                f"Unknown Decathlon task {task!r}; tasks: {list(TASKS)}."
            )
        accuracy = float(accuracy)
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(
                f"Accuracy of {task!r} must be in [0, 1], got {accuracy}."
            )
        max_error = 2.0 * (1.0 - BASELINE_ACCURACY[task] / 100.0)
        alpha = 1000.0 * max_error**-GAMMA
        gap = max(0.0, max_error - (1.0 - accuracy))
        per_task[task] = float(alpha * gap**GAMMA)
    return float(np.sum(list(per_task.values()))), per_task
