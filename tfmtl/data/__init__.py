"""Data sources and the resumable input pipeline."""

from tfmtl.data.celeba import CelebA
from tfmtl.data.data_source import DataNotFoundError, DataSource
from tfmtl.data.pipeline import make_dataset
from tfmtl.data.split_halves import SplitHalves
from tfmtl.data.synthetic_scenes import SyntheticScenes

__all__ = [
    "CelebA",
    "DataNotFoundError",
    "DataSource",
    "SplitHalves",
    "SyntheticScenes",
    "make_dataset",
]
