"""Sharing modules: how tasks share a network's features."""

from tfmtl.sharing.hard_sharing import HardSharing
from tfmtl.sharing.sharing import Sharing

__all__ = ["HardSharing", "Sharing"]
