"""Saves and draws the searched MTL-NAS connectivity after evaluations."""

import json
import os

import numpy as np
import tensorflow as tf

from tfmtl.methods.mtl_nas.connectivity import draw_connectivity
from tfmtl.trainers.actions import Action


class ConnectivitySummary(Action):
    """Writes the discretised architecture of an `MTLNAS` module.

    After each evaluation it writes, under the run's `model_dir`:
    `architecture.json` (every candidate edge with its logit, gate and
    whether it is kept, plus the step) and `connectivity.png` (drawn by
    `draw_connectivity`); and to TensorBoard (`eval/`) the image
    `architecture/connectivity` and the scalars `architecture/entropy`,
    `architecture/kept_edges` and `architecture/mean_gate`.
    """

    def __init__(self):
        super().__init__(every_n_steps=1, on="eval")

    def __call__(self, step, logs, context):
        sharing = context.model.sharing
        architecture = sharing.architecture()
        architecture["step"] = int(step)
        image = draw_connectivity(architecture)
        gates = np.array([e["gate"] for e in architecture["edges"]])
        context.writer.scalars(
            "eval",
            {
                "architecture/entropy": float(sharing.entropy()),
                "architecture/kept_edges": float(
                    sum(e["keep"] for e in architecture["edges"])
                ),
                "architecture/mean_gate": float(gates.mean()),
            },
            step,
        )
        context.writer.images(
            "eval",
            {"architecture/connectivity": image[None].astype(np.float32) / 255},
            step,
        )
        if not context.is_chief:
            return
        tf.io.gfile.makedirs(context.model_dir)
        path = os.path.join(context.model_dir, "architecture.json")
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump(architecture, f, indent=1)
        png = tf.io.encode_png(tf.constant(image)).numpy()
        with tf.io.gfile.GFile(
            os.path.join(context.model_dir, "connectivity.png"), "wb"
        ) as f:
            f.write(png)
