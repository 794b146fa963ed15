"""Hard parameter sharing: one trunk whose features every task head reads."""

import keras

from tfmtl.sharing.backbone_sharing import BackboneSharing


@keras.saving.register_keras_serializable(package="tfmtl")
class HardSharing(BackboneSharing):
    """Shared backbone, per-task heads: the standard multi-task baseline.

    Every task gets the same feature tensor, so gradient-based weightings can
    use the cheap representation Gramian.

    Args:
        backbone: A backbone layer (`tfmtl.models.backbones`).
        tasks: Task names served (informational for hard sharing).
        **kwargs: Forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names (default: `self.tasks`).
        training: Python bool.

    Example:
    >>> from tfmtl.models.backbones import ResNet
    >>> sharing = HardSharing(ResNet(depth=18, stem="small"), tasks=("a", "b"))
    >>> features = sharing(keras.ops.zeros((2, 32, 32, 3)), tasks=("a", "b"))
    >>> sorted(features)
    ['a', 'b']

    Reference:
        Caruana, "Multitask Learning", Machine Learning 28, 1997.
    """

    def __init__(self, backbone, tasks=(), **kwargs):
        super().__init__(tasks=tasks, **kwargs)
        self.backbone = backbone

    def call(self, images, tasks=None, training=None):
        features = self.backbone(images, training=training)
        return {task: features for task in (tasks or self.tasks)}
