"""The evaluation action writing AdaShare's report: metrics, Δ_T, costs."""

import os

from tfmtl.methods.adashare import policy_io
from tfmtl.metrics.delta_mtl import delta_mtl
from tfmtl.trainers.actions import Action


class AdaShareReport(Action):
    """After each evaluation, writes `report.json` and `report.md`.

    The report has every evaluation metric per task, Δ_T (the mean relative
    gain over single-task baselines, per task and overall) when baselines
    are given, and the parameters and multiply-accumulates of each task's
    path. With a fixed policy it also draws the policy (`policy.png`) and
    logs it as the image summary `eval/dense/adashare_policy`.

    Args:
        baselines: optional `{task: {metric: single-task value}}`; only
            these metrics count in Δ_T.
        directory: where to write (default `model_dir`).

    Example:
    ```python
    actions = [AdaShareReport({"depth": {"abs_err": 0.62}})]
    ```
    """

    def __init__(self, baselines=None, directory=None):
        super().__init__(1, "eval")
        self.baselines = {t: dict(m) for t, m in dict(baselines or {}).items()}
        self.directory = directory

    def __call__(self, step, logs, context):
        if not context.is_chief:
            return
        report = build_report(context, logs, self.baselines)
        report["step"] = int(step)
        directory = self.directory or context.model_dir
        policy_io.write_json(os.path.join(directory, "report.json"), report)
        text = format_report(report)
        with open_text(os.path.join(directory, "report.md")) as f:
            f.write(text)
        sharing = context.model.sharing
        if sharing.policy:
            values = [sharing.policy[t] for t in sharing.tasks]
            image = policy_io.policy_image(values)
            policy_io.write_png(os.path.join(directory, "policy.png"), image)
            context.writer.images(
                "eval", {"adashare_policy": image[None]}, step
            )


def open_text(path):
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    return tf.io.gfile.GFile(path, "w")


def task_metrics(tasks, results):
    """Evaluation results by task, and which metrics are higher-better.

    Args:
        tasks: the run's `Task`s.
        results: flat evaluation results (`metric/<task>/<name>` keys).

    Returns:
        `({task: {name: value}}, {task: {name: bool}})`, the arguments of
        `delta_mtl`.
    """
    metrics, better = {}, {}
    for task in tasks:
        metrics[task.name], better[task.name] = {}, {}
        prefix = f"metric/{task.name}/"
        for key, value in results.items():
            if key.startswith(prefix):
                metrics[task.name][key[len(prefix) :]] = float(value)
        for metric in task.metrics:
            better[task.name].update(getattr(metric, "higher_is_better", {}))
    return metrics, better


def build_report(context, results, baselines):
    """The report dict of one evaluation (see `AdaShareReport`)."""
    metrics, better = task_metrics(context.tasks, results)
    report = {"metrics": metrics}
    if baselines:
        delta, per_task = delta_mtl(metrics, baselines, better)
        report["delta_t"] = {"overall": delta, **per_task}
        report["baselines"] = baselines
    report["costs"] = policy_io.path_costs(context.model, context.image_shape)
    sharing = context.model.sharing
    if sharing.policy:
        report["policy"] = {t: list(p) for t, p in sharing.policy.items()}
    return report


def format_report(report):
    """Markdown tables of a report."""
    lines = ["| task | metric | value | single-task |", "|---|---|---|---|"]
    baselines = report.get("baselines", {})
    for task, values in report["metrics"].items():
        for name, value in sorted(values.items()):
            base = baselines.get(task, {}).get(name)
            base = "" if base is None else f"{base:.4g}"
            lines.append(f"| {task} | {name} | {value:.4g} | {base} |")
    if "delta_t" in report:
        lines += ["", "| Δ_T | % |", "|---|---|"]
        for task, value in report["delta_t"].items():
            lines.append(f"| {task} | {value:+.2f} |")
    lines += [
        "",
        "| path | params | MACs | FLOPs | executed blocks |",
        "|---|---|---|---|---|",
    ]
    for task, cost in report["costs"].items():
        if task == "total":
            continue
        lines.append(
            f"| {task} | {cost['params']:,} | {cost['macs']:,} | "
            f"{cost['flops']:,} | {cost['executed_blocks']} |"
        )
    total = report["costs"]["total"]
    lines += [
        "",
        f"Parameters: {total['params']:,} in the model, "
        f"{total['union_params']:,} on the tasks' paths (see "
        "`policy_io.path_costs` for what is counted).",
    ]
    return "\n".join(lines) + "\n"
