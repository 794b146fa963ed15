"""Base class of sharing modules: how tasks share the network's features."""

import keras


class Sharing(keras.layers.Layer):
    """Maps images to one feature tensor per task.

    Subclasses implement `call(images, tasks, training)` returning
    `{task: features}` and may override `shared_variables` (parameters used by
    every task: what gradient-based weightings differentiate) and
    `variable_groups` (e.g. architecture parameters on their own optimizer).
    Regularisers (sparsity, L1 on scores) go through `self.add_loss`.

    Args:
        tasks: Names of every task the module serves.
        **kwargs: Forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to compute (default: all).
        training: Python bool.
    """

    def __init__(self, tasks=(), **kwargs):
        super().__init__(**kwargs)
        self.tasks = tuple(tasks)

    def shared_variables(self):
        """Trainable variables every task depends on."""
        return list(self.trainable_variables)

    def variable_groups(self):
        """Maps optimizer group names to variables (default: all 'weights')."""
        return {"weights": list(self.trainable_variables)}

    def get_config(self):
        config = super().get_config()
        config.update({"tasks": list(self.tasks)})
        return config
