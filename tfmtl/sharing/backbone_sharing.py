"""Base class of the sharing modules that wrap a backbone."""

import keras

from tfmtl.sharing.sharing import Sharing


class BackboneSharing(Sharing):
    """A `Sharing` module whose config holds a wrapped backbone.

    Subclasses take the backbone as their `backbone` argument and keep it;
    this class writes it into the config with
    `keras.saving.serialize_keras_object` and rebuilds it in `from_config`.
    A subclass that keeps copies of the backbone (one branch per task)
    overrides `config_backbone`; one that must not build the backbone while
    deserialising overrides `backbone_from_config`.

    Args:
        tasks: Names of every task the module serves.
        **kwargs: Forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to compute (default: all).
        training: Python bool.

    Example:
    >>> from tfmtl.models.backbones import ResNet
    >>> from tfmtl.sharing import HardSharing
    >>> sharing = HardSharing(ResNet(depth=18, stem="small"), tasks=("a",))
    >>> clone = HardSharing.from_config(sharing.get_config())
    >>> type(clone.backbone).__name__
    'ResNet'
    """

    def config_backbone(self):
        """The layer stored as the config's `backbone` (`self.backbone`)."""
        return self.backbone

    @classmethod
    def backbone_from_config(cls, config):
        """The backbone layer rebuilt from its serialised `config`."""
        return keras.saving.deserialize_keras_object(config)

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(
            self.config_backbone()
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = cls.backbone_from_config(config["backbone"])
        return cls(**config)
