"""TAPS schedules in epochs, counted as the reference's data loaders do.

Reference (github.com/MattWallingford/TAPS):
* `train_sequential.py` `train`: the penalty is added when
  `epoch > opts.args.warmup_epochs` (0-based epochs; the scripts keep the
  default 2, so 3 epochs run without it); an epoch is one pass over
  `DataLoader(batch_size=32, shuffle=True)` (drop_last False), i.e.
  `ceil(N / 32)` batches.
* `samplers/DomainNet.py` `MultiDomainSampler.__len__`: a joint epoch is
  `min_d floor(N_d / batch)` rounds of one batch per domain.
"""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.taps.gin_macros import macro_value
from tfmtl.data import domainnet
from tfmtl.methods.taps import epoch_steps, steps_per_epoch


def test_steps_per_epoch_matches_the_loaders():
    # DataLoader(drop_last=False): ceil; MultiDomainSampler: T * min floor.
    assert steps_per_epoch(33525, 32) == 1048 == math.ceil(33525 / 32)
    assert steps_per_epoch([64], 32) == 2
    assert steps_per_epoch([33525, 120906], 32, joint=True) == 2 * 1047
    assert epoch_steps(3, [2040], 32) == 3 * 64
    assert epoch_steps(30, [33525], 32, accumulation_steps=8) == math.ceil(
        30 * 1048 / 8
    )
    for bad in ([], [0]):
        with pytest.raises(ValueError, match="sizes"):
            steps_per_epoch(bad, 32)
    with pytest.raises(ValueError, match="smaller than one batch"):
        steps_per_epoch([10, 100], 32, joint=True)


def test_official_domainnet_train_sizes():
    assert domainnet.train_sizes(domainnet.DOMAINS) == [
        33525,
        36023,
        50416,
        120750,
        120906,
        48212,
    ]
    with pytest.raises(ValueError, match="Unknown domains"):
        domainnet.train_sizes(["photo"])


@pytest.mark.parametrize(
    "domain,batch", [("clipart", 32), ("real", 32), ("sketch", 16)]
)
def test_domainnet_warmup_is_three_epochs_of_the_domain(domain, batch):
    # Was WARMUP_STEPS = 2000 for every domain (0.53 epoch of `real`).
    steps = macro_value(
        "gin_configs/taps/domainnet_resnet34.gin",
        [
            f"DOMAIN = '{domain}'",
            "DOMAINNET_ROOT = '/unused'",
            f"GLOBAL_BATCH_SIZE = {batch}",
        ],
        "WARMUP_STEPS",
    )
    assert steps == 3 * math.ceil(domainnet.TRAIN_SIZES[domain] / batch)


def test_joint_domainnet_warmup_counts_joint_epochs():
    steps = macro_value(
        "gin_configs/taps/domainnet_joint_resnet34.gin",
        ["DOMAINNET_ROOT = '/unused'"],
        "WARMUP_STEPS",
    )
    # 6 domains x floor(33525 / 32) rounds (clipart is the smallest).
    assert steps == 3 * 6 * (33525 // 32)


def test_image_folder_warmup_is_three_epochs_of_its_train_folder(tmp_path):
    # 5 classes x 13 images = 65 training images, batch 32: 3 batches/epoch
    # (was WARMUP_STEPS = 500 whatever the data set).
    for c in range(5):
        for i in range(13):
            path = tmp_path / "train" / f"c{c}" / f"{i}.png"
            os.makedirs(path.parent, exist_ok=True)
            tf.io.write_file(
                str(path), tf.io.encode_png(np.zeros((4, 4, 3), np.uint8))
            )
    steps = macro_value(
        "gin_configs/taps/imagenet_to_sketch_resnet50.gin",
        [f"DATASET_DIR = '{tmp_path}'"],
        "WARMUP_STEPS",
    )
    assert steps == 3 * 3


@pytest.mark.parametrize("domain", ["clipart", "real"])
def test_domainnet_trains_30_epochs_of_its_domain(domain):
    # Was 113000 steps (30 epochs of `real`) whatever the domain.
    bindings = [f"DOMAIN = '{domain}'", "DOMAINNET_ROOT = '/unused'"]
    gin_file = "gin_configs/taps/domainnet_resnet34.gin"
    per_epoch = math.ceil(domainnet.TRAIN_SIZES[domain] / 32)
    assert macro_value(gin_file, bindings, "TRAIN_STEPS") == 30 * per_epoch
    assert macro_value(gin_file, bindings, "DECAY_STEPS") == math.ceil(
        30 * per_epoch / 8
    )
    assert macro_value(gin_file, bindings, "EVAL_EVERY") == per_epoch


def test_joint_domainnet_epoch_ends_with_the_smallest_domain():
    # Was 675000 micro-steps (~3.6x the reference's 30 joint epochs).
    bindings = ["DOMAINNET_ROOT = '/unused'"]
    gin_file = "gin_configs/taps/domainnet_joint_resnet34.gin"
    assert macro_value(gin_file, bindings, "TRAIN_STEPS") == 30 * 6 * 1047
    assert macro_value(gin_file, bindings, "DECAY_STEPS") == 30 * 1047
