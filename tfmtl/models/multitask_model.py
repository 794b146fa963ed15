"""The one multi-task model: a sharing module followed by per-task heads."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfmtl")
class MultiTaskModel(keras.Model):
    """Images in, `{task: prediction}` out.

    The sharing module decides which features each task sees (hard sharing,
    AdaShare policies, partitions, NDDR fusion, TAPS deltas); each head turns
    its task's features into a prediction. Dense heads (`head.dense`) are
    resized bilinearly to the input resolution and all outputs are float32,
    so losses and metrics never see mixed-precision dtypes.

    Args:
        sharing: A `tfmtl.sharing.Sharing` layer.
        heads: Dict mapping task name to head layer.
        **kwargs: Forwarded to `keras.Model`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to run (default: every head's task).
        training: Python bool.
        return_features: Also return the sharing module's `{task: features}`.

    Example:
    >>> from tfmtl.models.backbones import ResNet
    >>> from tfmtl.models.heads import ClassifierHead
    >>> from tfmtl.sharing import HardSharing
    >>> model = MultiTaskModel(
    ...     HardSharing(ResNet(depth=18, stem="small")),
    ...     {"a": ClassifierHead(2), "b": ClassifierHead(3)})
    >>> out = model(keras.ops.zeros((1, 32, 32, 3)))
    >>> tuple(out["b"].shape)
    (1, 3)

    Reference:
        Ruder, "An Overview of Multi-Task Learning in Deep Neural Networks",
        arXiv:1706.05098.
    """

    def __init__(self, sharing, heads, **kwargs):
        super().__init__(**kwargs)
        if not heads:
            raise ValueError("MultiTaskModel needs at least one head.")
        self.sharing = sharing
        self.heads = dict(heads)
        self.task_names = tuple(heads)

    def call(self, images, tasks=None, training=None, return_features=False):
        tasks = tuple(tasks) if tasks else self.task_names
        unknown = [t for t in tasks if t not in self.heads]
        if unknown:
            raise ValueError(
                f"Unknown tasks {unknown}; the model has "
                f"{list(self.task_names)}."
            )
        features = self.sharing(images, tasks=tasks, training=training)
        size = tf.shape(images)[1:3]
        outputs = {}
        for task in tasks:
            y = self.heads[task](features[task], training=training)
            y = tf.cast(y, tf.float32)
            if getattr(self.heads[task], "dense", False):
                y = tf.image.resize(y, size, method="bilinear")
            outputs[task] = y
        if return_features:
            return outputs, features
        return outputs

    def variable_groups(self):
        """Maps optimizer group names to trainable variables.

        The sharing module names its groups (default all in "weights").
        Heads join "weights"; a head also joins every sharing group named
        "<group>/<task>" for its own task (per-task optimizer state, as in
        feature partitioning).
        """
        groups = {k: list(v) for k, v in self.sharing.variable_groups().items()}
        for task, head in self.heads.items():
            for name in list(groups):
                if name.endswith(f"/{task}"):
                    groups[name] += head.trainable_variables
            groups.setdefault("weights", [])
            groups["weights"] += head.trainable_variables
        return groups

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sharing": keras.saving.serialize_keras_object(self.sharing),
                "heads": {
                    t: keras.saving.serialize_keras_object(h)
                    for t, h in self.heads.items()
                },
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        sharing = keras.saving.deserialize_keras_object(config.pop("sharing"))
        heads = {
            t: keras.saving.deserialize_keras_object(h)
            for t, h in config.pop("heads").items()
        }
        return cls(sharing=sharing, heads=heads, **config)
