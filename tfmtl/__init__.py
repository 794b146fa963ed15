"""tfmtl: efficient multi-task learning with TensorFlow 2 and Keras 3.

One model (`tfmtl.models.multitask_model.MultiTaskModel`) and one trainer
(`tfmtl.trainers.Controller`); methods plug in a sharing module, a loss
weighting, a schedule, actions and an outer loop. See `docs/design.md`.
"""

__version__ = "0.1.0"
