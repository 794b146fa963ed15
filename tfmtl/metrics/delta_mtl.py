"""Δ_MTL: the mean relative gain of a multi-task model over single-task ones.

Maninis et al. (CVPR 2019), as used by AdaShare (reference notes
adashare_taps.md §A3) and LibMTL's Δp (peers.md §1.3):

    Δ_t   = (1 / |M_t|) Σ_m s_m (M_mtl,m − M_stl,m) / M_stl,m × 100
    Δ_MTL = (1 / T) Σ_t Δ_t

with s_m = +1 when higher is better for metric m and −1 when lower is better,
i.e. s_m = (−1)^{l_m} with l_m = 1 for lower-is-better metrics. A positive
Δ means the multi-task model is better.
"""


def delta_mtl(results, baselines, higher_is_better):
    """Relative improvement (%) of multi-task results over baselines.

    The metrics that count are exactly those listed in `baselines`: every
    task averages its own metrics first, then the tasks are averaged, so a
    task with many metrics weighs as much as a task with one. Pass only the
    metrics you want counted (for example leave out `error` when `accuracy`
    is present, since one is 1 minus the other).

    Args:
        results: `{task: {metric: value}}` of the multi-task model.
        baselines: `{task: {metric: value}}` of the single-task models; the
            tasks and metrics to compare.
        higher_is_better: `{task: {metric: bool}}`, e.g. built from each
            task's `Metric.higher_is_better`.

    Returns:
        A tuple `(delta, per_task)`: the overall Δ_MTL in percent (float)
        and `{task: Δ_t}` in percent.

    Raises:
        ValueError: if `baselines` is empty, a task has no metrics, a
            metric is missing from `results` or `higher_is_better`, or a
            baseline value is zero.
    """
    if not baselines:
        raise ValueError("baselines must name at least one task.")
    per_task = {}
    for task, task_baselines in baselines.items():
        if not task_baselines:
            raise ValueError(f"Task {task!r} has no baseline metrics.")
        gains = []
        for metric, baseline in task_baselines.items():
            if metric not in results.get(task, {}):
                raise ValueError(f"results lack {task!r}/{metric!r}.")
            if metric not in higher_is_better.get(task, {}):
                raise ValueError(f"higher_is_better lacks {task!r}/{metric!r}.")
            baseline = float(baseline)
            if baseline == 0.0:
                raise ValueError(
                    f"Baseline of {task!r}/{metric!r} is 0; the relative "
                    "change is undefined."
                )
            sign = 1.0 if higher_is_better[task][metric] else -1.0
            value = float(results[task][metric])
            gains.append(sign * (value - baseline) / baseline * 100.0)
        per_task[task] = sum(gains) / len(gains)
    delta = sum(per_task.values()) / len(per_task)
    return delta, per_task
