"""tfmtl: efficient multi-task learning with TensorFlow 2 and Keras 3.

One model (`tfmtl.models.multitask_model.MultiTaskModel`) and one trainer
(`tfmtl.trainers.Controller`); methods plug in a sharing module, a loss
weighting, a schedule, actions and an outer loop. See `docs/design.md`.
"""

__version__ = "0.1.0"

from tfmtl import quiet_import as _quiet_import  # noqa: E402

if _quiet_import.started_as_binary():
    # `python -m tfmtl.<binary>`: the banner once at most, as the console
    # scripts (see `tfmtl.cli`); a plain `import tfmtl` is untouched.
    import os as _os

    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    _quiet_import.import_tensorflow()
