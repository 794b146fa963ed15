"""Data sources and the resumable input pipeline."""

from tfmtl.data.augment import DenseAugment
from tfmtl.data.augmented import Augmented
from tfmtl.data.celeba import CelebA
from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.pipeline import make_dataset
from tfmtl.data.split_halves import SplitHalves
from tfmtl.data.synthetic_scenes import SyntheticScenes
from tfmtl.data.wrapped_source import WrappedSource

__all__ = [
    "Augmented",
    "CelebA",
    "DataNotFoundError",
    "DataSource",
    "DenseAugment",
    "SplitHalves",
    "SyntheticScenes",
    "WrappedSource",
    "make_dataset",
]
