"""The small ResNet of feature partitioning, for 72 x 72 Decathlon images."""

import keras
import tensorflow as tf

from tfmtl.methods.feature_partitioning.masked_conv2d import MaskedConv2D
from tfmtl.models.layers import TaskBatchNormalization


@keras.saving.register_keras_serializable(package="tfmtl")
class PartitionedResNet(keras.layers.Layer):
    """Rebuffi-style ResNet-26 with per-task norms and masked last stage.

    A 3x3 stem (`widths[0]` channels, stride 1), then one stage per entry of
    `widths[1:]`, each of `blocks_per_stage` basic blocks (two 3x3 convs).
    The first block of each stage has stride 2 and a parameter-free
    shortcut: 2x2 average pooling, then zero channels appended. Every
    convolution is followed by a per-task `TaskBatchNormalization`; a final
    per-task norm and ReLU close the trunk. In the last stage (in every
    stage without `freeze_prefix`, as the reference's
    `models/masked_resnet.py`) the first convolution of every block is a
    `MaskedConv2D`: the partition acts on
    the block's inner width, the residual stream is not masked.

    Every method takes the task index explicitly, so one trunk serves all
    tasks: `FeaturePartitioning` runs it once per task.

    Args:
        num_tasks: int, number of tasks.
        widths: ints, stem width then one width per stage
            (reference: 32, 64, 128, 256).
        blocks_per_stage: int (reference: 4).
        freeze_prefix: bool, freeze the convolution kernels of the stem and
            every stage but the last ("last third only"); their per-task
            norms still train.
        norm_momentum: float.
        norm_epsilon: float.
        kernel_initializer: initializer of the convolutions.
        **kwargs: Forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        task: Python int, the active task.
        training: Python bool.

    Example:
    >>> net = PartitionedResNet(2, widths=(8, 8, 16, 16), blocks_per_stage=1)
    >>> net(keras.ops.ones((1, 16, 16, 3)), task=1).shape
    TensorShape([1, 2, 2, 16])

    Reference:
        Rebuffi et al., "Learning multiple visual domains with residual
        adapters", NeurIPS 2017; Newell et al., arXiv:1908.04339.
    """

    def __init__(
        self,
        num_tasks=1,
        widths=(32, 64, 128, 256),
        blocks_per_stage=4,
        freeze_prefix=False,
        norm_momentum=0.9,
        norm_epsilon=1e-5,
        # compat: the reference uses fan-out He init.
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.widths = tuple(int(w) for w in widths)
        self.blocks_per_stage = int(blocks_per_stage)
        self.freeze_prefix = bool(freeze_prefix)
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if len(self.widths) < 2:
            raise ValueError("widths needs a stem width and >= 1 stage.")
        self.stem_conv = self._conv(self.widths[0], 1, "stem_conv")
        self.stem_norm = self._norm("stem_bn")
        self.blocks = []
        self.stage_ends = []
        for s, width in enumerate(self.widths[1:]):
            # As the reference (models/masked_resnet.py): every stage is
            # masked unless only the last third trains.
            masked = s == len(self.widths) - 2 or not self.freeze_prefix
            for b in range(self.blocks_per_stage):
                name = f"stage{s + 1}_block{b + 1}"
                self.blocks.append(
                    _Block(
                        conv1=self._conv(
                            width, 2 if b == 0 else 1, "conv1", masked
                        ),
                        bn1=self._norm("bn1"),
                        conv2=self._conv(width, 1, "conv2"),
                        bn2=self._norm("bn2"),
                        name=name,
                    )
                )
            self.stage_ends.append(len(self.blocks) - 1)
        self.end_norm = self._norm("end_bn")
        self.output_channels = self.widths[-1]
        if self.freeze_prefix:
            for layer in self.prefix_convs():
                layer.trainable = False

    def _conv(self, filters, strides, name, masked=False):
        kwargs = {
            "padding": "same",
            "strides": strides,
            "use_bias": False,
            "kernel_initializer": self.kernel_initializer,
            "dtype": self.dtype_policy,
            "name": name,
        }
        if masked:
            return MaskedConv2D(filters, 3, num_tasks=self.num_tasks, **kwargs)
        return keras.layers.Conv2D(filters, 3, **kwargs)

    def _norm(self, name):
        return TaskBatchNormalization(
            self.num_tasks,
            momentum=self.norm_momentum,
            epsilon=self.norm_epsilon,
            dtype=self.dtype_policy,
            name=name,
        )

    # ------------------------------------------------------------ structure
    @property
    def last_stage_blocks(self):
        """The blocks of the last stage."""
        return self.blocks[len(self.blocks) - self.blocks_per_stage :]

    def prefix_convs(self):
        """Convolutions of the stem and of every stage but the last."""
        convs = [self.stem_conv]
        for block in self.blocks[: len(self.blocks) - self.blocks_per_stage]:
            convs += [block.conv1, block.conv2]
        return convs

    def convs(self):
        """Every convolution, in the reference's `get_layer_ref` order:
        the stem, then conv1 and conv2 of each block."""
        convs = [self.stem_conv]
        for block in self.blocks:
            convs += [block.conv1, block.conv2]
        return convs

    def masked_convs(self):
        """The `MaskedConv2D` layers: the first conv of each block of the
        last stage, or of every stage without `freeze_prefix`."""
        return [
            block.conv1
            for block in self.blocks
            if isinstance(block.conv1, MaskedConv2D)
        ]

    def task_norms(self):
        """Every `TaskBatchNormalization` of the trunk."""
        norms = [self.stem_norm, self.end_norm]
        for block in self.blocks:
            norms += [block.bn1, block.bn2]
        return norms

    def build(self, input_shape):
        self.stem_conv.build((None, None, None, input_shape[-1]))
        self.stem_norm.build((None, None, None, self.widths[0]))
        channels = self.widths[0]
        for block in self.blocks:
            block.build((None, None, None, channels))
            channels = block.conv2.filters
        self.end_norm.build((None, None, None, channels))
        self.built = True

    # ------------------------------------------------------------- forward
    def prefix(self, images, task=0, training=None):
        """Stem and every stage but the last."""
        x = self.stem_conv(images)
        x = tf.nn.relu(self.stem_norm(x, task=task, training=training))
        for block in self.blocks[: len(self.blocks) - self.blocks_per_stage]:
            x = block(x, task=task, training=training)
        return x

    def last_stage(self, x, task=0, training=None):
        """Blocks of the last stage; returns every block's output.

        The last entry has the final per-task norm and ReLU applied, so it
        equals `call`'s output.
        """
        outputs = []
        for block in self.last_stage_blocks:
            x = block(x, task=task, training=training)
            outputs.append(x)
        outputs[-1] = tf.nn.relu(
            self.end_norm(outputs[-1], task=task, training=training)
        )
        return outputs

    def call(self, images, task=0, training=None):
        x = self.prefix(images, task, training)
        return self.last_stage(x, task, training)[-1]

    def compute_output_shape(self, input_shape):
        spatial = [
            None if size is None else size for size in tuple(input_shape)[1:-1]
        ]
        for _ in self.widths[1:]:
            spatial = [None if s is None else -(-s // 2) for s in spatial]
        return (input_shape[0], *spatial, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "widths": list(self.widths),
                "blocks_per_stage": self.blocks_per_stage,
                "freeze_prefix": self.freeze_prefix,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config


class _Block(keras.layers.Layer):
    """Basic block with per-task norms and a parameter-free shortcut."""

    def __init__(self, conv1, bn1, conv2, bn2, **kwargs):
        super().__init__(**kwargs)
        self.conv1, self.bn1, self.conv2, self.bn2 = conv1, bn1, conv2, bn2

    def build(self, input_shape):
        width = self.conv1.filters
        self.conv1.build(input_shape)
        self.bn1.build((None, None, None, width))
        self.conv2.build((None, None, None, width))
        self.bn2.build((None, None, None, width))
        self.built = True

    def call(self, x, task=0, training=None):
        if isinstance(self.conv1, MaskedConv2D):
            y = self.conv1(x, task=task)
        else:
            y = self.conv1(x)
        y = tf.nn.relu(self.bn1(y, task=task, training=training))
        y = self.bn2(self.conv2(y), task=task, training=training)
        shortcut = x
        if self.conv1.strides[0] != 1:
            # Parameter-free: pool, then append zero channels.
            shortcut = tf.nn.avg_pool2d(x, 2, 2, "SAME")
        extra = y.shape[-1] - shortcut.shape[-1]
        if extra:
            shortcut = tf.pad(shortcut, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return tf.nn.relu(y + shortcut)
