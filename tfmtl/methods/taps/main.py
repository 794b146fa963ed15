r"""Exports and draws a trained TAPS model (training uses `tfmtl.train`).

Usage:
  python -m tfmtl.train --gin_file=gin_configs/taps/smoke_sequential.gin \
      --gin.MODEL_DIR="'/tmp/taps'" --mode=export
  tfmtl-taps --model_dir=/tmp/taps

(or `python -m tfmtl.methods.taps.main ...`; `--mode=export`, the
default) reads `<model_dir>/export/model.keras` (or
`--model`) and writes to `--output_dir` (default
`<model_dir>/export/taps`): the compact per-task export (`compact/`: base +
sparse deltas, reload with `tfmtl.methods.taps.load_compact`), merged
per-task models (`merged/merged_<task>.keras`), `layers.png` (tasks x gated
layers, tuned layers dark) and `summary.json` (% layers tuned, %
parameters changed, stored delta parameters).

`--mode=report --model_dirs=<run>,<run>,... --output_dir=<dir>` is the
reference's `VisualizeLayers.ipynb` across runs (one per data set, each
exported): `layers.png` (a row per run and task, a column per gated layer,
tuned layers dark), `report.md` / `report.json` (per run and task: the best
evaluation accuracy, % layers tuned, % parameters added) and the same image
and table as TensorBoard summaries in `<dir>`.

Bad input ends with one error line and exit status 2.
"""

import json
import os

from absl import flags

from tfmtl import cli

FLAGS = flags.FLAGS
PROG = "tfmtl.methods.taps.main"
MODES = ("export", "report")

cli.define_common(__name__)
cli.define_mode(__name__, MODES, default="export")
cli.define(
    __name__, "string", "model_dir", None, "Run directory of a TAPS model."
)
cli.define(
    __name__, "string", "model", None, "A TAPS `.keras` file (overrides)."
)
cli.define(
    __name__, "string", "output_dir", None, "Destination of the exports."
)
cli.define(
    __name__, "bool", "merged", True, "Also write merged per-task models."
)
cli.define(
    __name__,
    "string",
    "model_dirs",
    None,
    "Comma-separated exported TAPS runs for --mode=report.",
)


def export_all(model_path, output_dir, merged=True):
    """Writes every TAPS output of the `.keras` model; returns the summary."""
    from tfmtl.methods.taps import base_loading, export

    model = base_loading.load_keras(model_path)
    sharing = model.sharing
    if not hasattr(sharing, "gated_layers"):
        raise ValueError(f"{model_path} is not a TAPS model.")
    # Exports written before TAPS kept one `penalty_scale` lack the model's
    # build config; their sharing module has it.
    build = model.get_build_config() or sharing.get_build_config()
    input_shape = tuple(build["input_shape"][1:])
    stored = export.export_compact(
        model, os.path.join(output_dir, "compact"), input_shape
    )
    if merged:
        export.export_merged(
            model, os.path.join(output_dir, "merged"), input_shape
        )
    export.write_png(
        os.path.join(output_dir, "layers.png"),
        export.layer_map_image(sharing.active_layers()),
    )
    summary = {
        "layers_tuned": sharing.layers_tuned(),
        "parameters_changed": sharing.parameters_changed(),
        "delta_parameters_stored": stored,
        "active_layers": sharing.active_layers().astype(int).tolist(),
    }
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _report():
    from tfmtl.methods.taps import report

    if not FLAGS.model_dirs or not FLAGS.output_dir:
        raise ValueError(
            "--mode=report needs --model_dirs=<run>,<run> and --output_dir."
        )
    dirs = [d for d in FLAGS.model_dirs.split(",") if d]
    rows = report.write_report(dirs, FLAGS.output_dir)
    print(report.markdown_table(rows), end="")


def _run():
    mode = cli.check_mode(MODES, default="export")
    if mode == "report":
        return _report()
    if not (FLAGS.model or FLAGS.model_dir):
        raise ValueError("Give --model_dir or --model.")
    model = FLAGS.model or os.path.join(
        FLAGS.model_dir, "export", "model.keras"
    )
    output_dir = FLAGS.output_dir or os.path.join(
        os.path.dirname(model), "taps"
    )
    if not os.path.exists(model):
        raise FileNotFoundError(
            f"No TAPS model at {model}; export the run first with "
            "`python -m tfmtl.train ... --mode=export`."
        )
    summary = export_all(model, output_dir, FLAGS.merged)
    print(json.dumps({"output_dir": output_dir, **summary["layers_tuned"]}))


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__)


if __name__ == "__main__":
    main()
