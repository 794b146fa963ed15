"""Every AdaShare benchmark config centres its crop padding.

Reference: `__random_crop_and_pad_image_and_labels__` of
`dataloaders/nyu_v2_dataloader.py`, `cityscapes_dataloader.py` and
`taskonomy_dataloader.py` in github.com/sunxm2357/AdaShare put an image
smaller than the crop at offset `(pad - size) // 2` of the padded canvas,
then crop at a random position.
"""

import os

import gin
import pytest

from tfmtl.data.augment import DenseAugment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


@pytest.mark.parametrize(
    "config",
    ["cityscapes_2task", "nyu_v2_2task", "nyu_v2_3task", "taskonomy_5task"],
)
def test_benchmark_configs_centre_the_padding(config):
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, "gin_configs", "adashare", f"{config}.gin")],
            ["MODEL_DIR = '/tmp/unused'", "DATA_DIR = '/tmp/unused'"],
        )
        augment = gin.get_configurable(DenseAugment)()
    finally:
        gin.clear_config()
    assert augment.center_padding, config
    assert augment.scale_range == (0.5, 1.5), config
