"""Export of a trained model: a SavedModel with a `serve` signature and a
`.keras` file."""

import os
import tempfile

import keras
import tensorflow as tf
from absl import logging


def export_model(model, image_shape, export_dir):
    """Writes `export_dir/saved_model` and `export_dir/model.keras`.

    Args:
        model: A built `MultiTaskModel`.
        image_shape: `(H, W, C)` of one input image.
        export_dir: Destination, local or `gs://`.

    Returns:
        `export_dir`.
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda images: model(images, training=False),
        input_signature=[
            tf.TensorSpec((None, *image_shape), tf.float32, "images")
        ],
    )
    archive.write_out(os.path.join(export_dir, "saved_model"), verbose=False)
    keras_path = os.path.join(export_dir, "model.keras")
    if keras_path.startswith("gs://"):
        # Keras writes .keras files locally only.
        with tempfile.TemporaryDirectory() as scratch:
            local = os.path.join(scratch, "model.keras")
            model.save(local)
            tf.io.gfile.copy(local, keras_path, overwrite=True)
    else:
        tf.io.gfile.makedirs(export_dir)
        model.save(keras_path)
    logging.info("Exported to %s", export_dir)
    return export_dir
