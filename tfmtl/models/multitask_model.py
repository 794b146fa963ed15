"""The one multi-task model: a sharing module followed by per-task heads."""

import inspect
import re

import keras
import tensorflow as tf

DENSE_INTERPOLATIONS = ("bilinear", "nearest")


def resize_nearest(images, size):
    """Nearest-neighbour resize as PyTorch's `F.interpolate` default.

    Output pixel i reads input pixel floor(i * in / out) on each axis (no
    half-pixel offset), computed exactly in integers. For an integer
    up-scaling factor s this repeats every input pixel s times.

    Args:
        images: tensor [B, h, w, C].
        size: int tensor or pair (H, W), the output size.

    Returns:
        tensor [B, H, W, C].
    """
    for axis in (1, 2):
        out = tf.cast(size[axis - 1], tf.int64)
        source = tf.cast(tf.shape(images)[axis], tf.int64)
        index = tf.range(out, dtype=tf.int64) * source // out
        images = tf.gather(images, index, axis=axis)
    return images


@keras.saving.register_keras_serializable(package="tfmtl")
class MultiTaskModel(keras.Model):
    """Images in, `{task: prediction}` out.

    The sharing module decides which features each task sees (hard sharing,
    AdaShare policies, partitions, NDDR fusion, TAPS deltas); each head turns
    its task's features into a prediction. Dense heads (`head.dense`) are
    resized to the input resolution (bilinearly by default) and all outputs
    are float32, so losses and metrics never see mixed-precision dtypes.

    Args:
        sharing: A `tfmtl.sharing.Sharing` layer, or a factory that returns
            one (gin's `@HardSharing`), called here.
        heads: Dict mapping task name to head layer, or a function that
            returns one, called after the sharing module is made (so
            initialisers draw in the order sharing, then heads).
        head_groups: Optional dict mapping an optimizer group name to a
            regular expression: a head variable whose path
            (`variable.path`, e.g. `".../dense_head/output_conv/bias"`)
            matches it (`re.search`) goes to that group instead of
            `"weights"` (first matching group wins), so it can get its own
            optimizer, e.g. a learning-rate multiplier for the last layer
            (DeepLab's fc8 x10 / x20). None (default): every head variable
            is in `"weights"`.
        dense_interpolation: How dense head outputs are resized to the
            input resolution: `"bilinear"` (default) or `"nearest"`, the
            nearest-neighbour rule of PyTorch's `F.interpolate` default
            (`resize_nearest`), which AdaShare uses before scoring.
        **kwargs: Forwarded to `keras.Model`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to run (default: the plan's tasks, or
            every head's task).
        training: Python bool.
        return_features: Also return the sharing module's `{task: features}`.
        plan: the training step's `Plan`, or None; passed on to a sharing
            module whose `call` takes a `plan` (MTL-NAS picks its gate mode
            from it when the step is traced).

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

    def __init__(
        self,
        sharing,
        heads,
        head_groups=None,
        dense_interpolation="bilinear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(sharing, keras.layers.Layer):
            sharing = sharing()
        if callable(heads):
            heads = heads()
        if not heads:
            raise ValueError("MultiTaskModel needs at least one head.")
        if dense_interpolation not in DENSE_INTERPOLATIONS:
            raise ValueError(
                f"dense_interpolation must be one of {DENSE_INTERPOLATIONS}; "
                f"got {dense_interpolation!r}."
            )
        self.dense_interpolation = dense_interpolation
        self.sharing = sharing
        self.heads = dict(heads)
        self.task_names = tuple(heads)
        self.head_groups = None if head_groups is None else dict(head_groups)
        self._sharing_takes_plan = (
            "plan" in inspect.signature(sharing.call).parameters
        )
        for group, pattern in (self.head_groups or {}).items():
            if group == "weights":
                raise ValueError("head_groups cannot name 'weights'.")
            re.compile(pattern)

    def call(
        self,
        images,
        tasks=None,
        training=None,
        return_features=False,
        plan=None,
    ):
        tasks = tasks or (plan.tasks if plan is not None else None)
        tasks = tuple(tasks) if tasks else self.task_names
        unknown = [t for t in tasks if t not in self.heads]
        if unknown:
            raise ValueError(
                f"Unknown tasks {unknown}; the model has "
                f"{list(self.task_names)}."
            )
        takes = self._sharing_takes_plan and plan is not None
        extra = {"plan": plan} if takes else {}
        features = self.sharing(images, tasks=tasks, training=training, **extra)
        size = tf.shape(images)[1:3]
        outputs = {}
        for task in tasks:
            y = self.heads[task](features[task], training=training)
            y = tf.cast(y, tf.float32)
            if getattr(self.heads[task], "dense", False):
                y = self._resize(y, size)
            outputs[task] = y
        if return_features:
            return outputs, features
        return outputs

    def _resize(self, y, size):
        # compat: AdaShare upsamples with PyTorch's nearest default; we
        # default to bilinear (`dense_interpolation="nearest"` reproduces
        # the reference).
        if self.dense_interpolation == "nearest":
            return resize_nearest(y, size)
        return tf.image.resize(y, size, method="bilinear")

    def _head_group_of(self, variable, head_groups):
        for group, pattern in head_groups.items():
            if re.search(pattern, variable.path):
                return group
        return "weights"

    def variable_groups(self):
        """Maps optimizer group names to trainable variables.

        The sharing module names its groups (default all in "weights").
        Head variables join "weights", or the group of `head_groups` whose
        pattern their path matches; a head also joins every sharing group
        named "<group>/<task>" for its own task (per-task optimizer state,
        as in feature partitioning).
        """
        groups = {k: list(v) for k, v in self.sharing.variable_groups().items()}
        head_groups = self.head_groups or {}
        for task, head in self.heads.items():
            for name in list(groups):
                if name.endswith(f"/{task}"):
                    groups[name] += head.trainable_variables
            groups.setdefault("weights", [])
            for group in head_groups:
                groups.setdefault(group, [])
            for variable in head.trainable_variables:
                group = self._head_group_of(variable, head_groups)
                groups[group].append(variable)
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
                "head_groups": self.head_groups,
                "dense_interpolation": self.dense_interpolation,
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
