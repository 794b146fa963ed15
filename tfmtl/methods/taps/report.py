"""The TAPS report across runs: layer heat map and accuracy table.

What the reference's `VisualizeLayers.ipynb` (github.com/MattWallingford/
TAPS) shows for a list of experiments: per experiment the accuracy
`100 - min(val_err)` (the best evaluation over training), the ratio of
parameters adapted, and a heat map of the tasks x layers whose gate is on.
"""

import glob
import json
import os

import numpy as np
import tensorflow as tf

from tfmtl.methods.taps import export


def parameters_added(model, task):
    """Fraction of a task's network that TAPS adds or changes.

    As the reference notebook's "% Parameters Changed": the kernels of the
    tuned layers plus the task's normalisation parameters, over every
    parameter of the task's network (base kernels and biases, scores,
    normalisation and head; the deltas themselves not counted).

    Args:
        model: a `MultiTaskModel` whose sharing is `TAPS`.
        task: task name.

    Returns:
        float in [0, 1].
    """
    # compat: the notebook's total includes the 1000-way ImageNet `fc` of a
    # fresh ResNet whatever the data set, and its `'bn' in name` filter
    # misses the projection shortcuts' norms; here the task's own head is
    # counted and every norm is.
    sharing = model.sharing
    t = sharing.tasks.index(task)
    active_layers = sharing.active_layers()[t]
    total = active = 0
    for layer, on in zip(sharing.gated_layers(), active_layers, strict=True):
        kernel = int(np.prod(layer.base_kernel.shape))
        total += kernel + 1  # the layer's score
        if getattr(layer, "use_bias", False):
            total += int(np.prod(layer.bias.shape))
        active += kernel if on else 0
    for layer in sharing.task_norm_layers():
        size = sum(
            int(np.prod(v.shape)) for v in layer.norms[t].trainable_weights
        )
        total, active = total + size, active + size
    total += sum(int(np.prod(v.shape)) for v in model.heads[task].weights)
    return active / total


def _scalar(value):
    if value.HasField("tensor"):
        return float(tf.make_ndarray(value.tensor))
    return float(value.simple_value)


def best_error(model_dir, task):
    """Lowest `metric/<task>/error` of the run's evaluations, or None.

    Reads the `eval` summaries (every evaluation during training); without
    them, `eval_results.json` (the last evaluation).
    """
    tag = f"metric/{task}/error"
    errors = []
    for path in sorted(glob.glob(os.path.join(model_dir, "eval*", "*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            errors += [_scalar(v) for v in event.summary.value if v.tag == tag]
    if not errors:
        path = os.path.join(model_dir, "eval_results.json")
        if os.path.exists(path):
            with open(path) as f:
                value = json.load(f).get("results", {}).get(tag)
            errors = [] if value is None else [float(value)]
    return min(errors) if errors else None


def run_rows(model_dir, model_path=None):
    """One report row per task of the run's exported TAPS model."""
    from tfmtl.methods.taps import base_loading

    path = model_path or os.path.join(model_dir, "export", "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No TAPS model at {path}; export the run first with "
            "`python -m tfmtl.train ... --mode=export`."
        )
    model = base_loading.load_keras(path)
    sharing = model.sharing
    if not hasattr(sharing, "gated_layers"):
        raise ValueError(f"{path} is not a TAPS model.")
    rows = []
    for t, task in enumerate(sharing.tasks):
        error = best_error(model_dir, task)
        rows.append(
            {
                "run": os.path.basename(os.path.normpath(model_dir)),
                "task": task,
                "accuracy": None if error is None else 100.0 * (1 - error),
                "layers_tuned": 100.0 * sharing.layers_tuned()[task],
                "parameters_added": 100.0 * parameters_added(model, task),
                "active_layers": sharing.active_layers()[t].tolist(),
            }
        )
    return rows


def markdown_table(rows):
    """The accuracy table of `rows` as Markdown."""
    lines = [
        "| Run | Task | Accuracy (%) | Layers tuned (%) | Parameters added "
        "(%) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.2f}"
        lines.append(
            f"| {row['run']} | {row['task']} | {accuracy} | "
            f"{row['layers_tuned']:.1f} | {row['parameters_added']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(model_dirs, output_dir):
    """Writes the report of `model_dirs` to `output_dir`; returns the rows.

    Files: `layers.png` (heat map: a row per run and task, in order; a
    column per gated layer from input to output; tuned layers dark),
    `report.md` (the table), `report.json` (rows) and a TensorBoard event
    file with the image `taps/report/layers` and the text
    `taps/report/table`.
    """
    if not model_dirs:
        raise ValueError("Give the runs to report: --model_dirs=a,b.")
    rows = [row for d in model_dirs for row in run_rows(d)]
    widths = {len(row["active_layers"]) for row in rows}
    if len(widths) != 1:
        raise ValueError(
            f"The runs have different numbers of gated layers {sorted(widths)}"
            "; report runs of one architecture together."
        )
    image = export.layer_map_image([row["active_layers"] for row in rows])
    tf.io.gfile.makedirs(output_dir)
    export.write_png(os.path.join(output_dir, "layers.png"), image)
    table = markdown_table(rows)
    with open(os.path.join(output_dir, "report.md"), "w") as f:
        f.write(table)
    with open(os.path.join(output_dir, "report.json"), "w") as f:
        json.dump(rows, f, indent=2)
    writer = tf.summary.create_file_writer(output_dir)
    with writer.as_default():
        tf.summary.image("taps/report/layers", image[None], step=0)
        tf.summary.text("taps/report/table", table, step=0)
    writer.close()
    return rows
