r"""Exports and draws a trained TAPS model (training uses `tfmtl.train`).

Usage:
  python -m tfmtl.train --gin_file=gin_configs/taps/smoke_sequential.gin \
      --gin.MODEL_DIR="'/tmp/taps'" --mode=export
  python -m tfmtl.methods.taps.main --model_dir=/tmp/taps

reads `<model_dir>/export/model.keras` (or `--model`) and writes to
`--output_dir` (default `<model_dir>/export/taps`): the compact per-task
export (`compact/`: base + sparse deltas, reload with
`tfmtl.methods.taps.load_compact`), merged per-task models
(`merged/merged_<task>.keras`), `layers.png` (tasks x gated layers, tuned
layers dark) and `summary.json` (% layers tuned, % parameters changed,
stored delta parameters). Bad input ends with one error line and exit 2.
"""

import json
import os
import sys

from absl import app, flags

from tfmtl.train import one_line

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Run directory of a TAPS model.")
flags.DEFINE_string("model", None, "A TAPS `.keras` file (overrides).")
flags.DEFINE_string("output_dir", None, "Destination of the exports.")
flags.DEFINE_bool("merged", True, "Also write merged per-task models.")
# `--traceback` is defined by tfmtl.train (imported for `one_line`).


def export_all(model_path, output_dir, merged=True):
    """Writes every TAPS output of the `.keras` model; returns the summary."""
    from tfmtl.methods.taps import base_loading, export

    model = base_loading.load_keras(model_path)
    sharing = model.sharing
    if not hasattr(sharing, "gated_layers"):
        raise ValueError(f"{model_path} is not a TAPS model.")
    input_shape = tuple(model.get_build_config()["input_shape"][1:])
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


def _main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not (FLAGS.model or FLAGS.model_dir):
        raise app.UsageError("Give --model_dir or --model.")
    model = FLAGS.model or os.path.join(
        FLAGS.model_dir, "export", "model.keras"
    )
    output_dir = FLAGS.output_dir or os.path.join(
        os.path.dirname(model), "taps"
    )
    try:
        if not os.path.exists(model):
            raise FileNotFoundError(
                f"No TAPS model at {model}; export the run first with "
                "`python -m tfmtl.train ... --mode=export`."
            )
        summary = export_all(model, output_dir, FLAGS.merged)
    except (ValueError, OSError, KeyError) as error:
        if FLAGS.traceback:
            raise
        print(
            f"tfmtl.methods.taps.main: error: {one_line(error)}",
            file=sys.stderr,
        )
        sys.exit(2)
    print(json.dumps({"output_dir": output_dir, **summary["layers_tuned"]}))


def main():
    app.run(_main)


if __name__ == "__main__":
    main()
