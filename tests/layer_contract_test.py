"""`tfmtl.testing.run_layer_test` on every sharing module, backbone, head
and weighting: config and `.keras` round trips, symbolic and eager calls and
weight counts, on tiny configurations."""

import numpy as np
import pytest

from tfmtl import weighting
from tfmtl.methods.adashare import AdaShare
from tfmtl.methods.feature_partitioning import FeaturePartitioning
from tfmtl.methods.mtl_nas import MTLNAS, NDDR
from tfmtl.methods.tag.tag_resnet import TAGResNet
from tfmtl.methods.taps import TAPS
from tfmtl.models.backbones import VGG16, ResNet
from tfmtl.models.heads import ASPPHead, ClassifierHead, DenseHead
from tfmtl.sharing import HardSharing
from tfmtl.testing import TinyStagedBackbone, run_layer_test

TASKS = ("a", "b")


def _images(batch=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch, size, size, 3)).astype("float32")


def _features(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _resnet():
    return ResNet(18, stem="small", widths=(4, 4, 8, 8))


# name: (factory, inputs or None for `_images()`)
CASES = {
    "hard_sharing": (lambda: HardSharing(_resnet(), tasks=TASKS), None),
    "adashare": (lambda: AdaShare(_resnet(), TASKS), None),
    "feature_partitioning": (
        lambda: FeaturePartitioning(
            TASKS, "independent", widths=(4, 8, 8), blocks_per_stage=1
        ),
        None,
    ),
    "nddr": (lambda: NDDR(TinyStagedBackbone, tasks=TASKS), None),
    "mtl_nas": (lambda: MTLNAS(TinyStagedBackbone, tasks=TASKS), None),
    "taps": (lambda: TAPS(_resnet(), TASKS), None),
    "resnet": (_resnet, None),
    "vgg16": (VGG16, _images(batch=1, size=24)),
    "tag_resnet": (lambda: TAGResNet(filters=4), None),
    "classifier_head": (
        lambda: ClassifierHead(3, hidden_units=4),
        _features((2, 4, 4, 8)),
    ),
    "dense_head": (
        lambda: DenseHead(3, hidden_channels=4),
        _features((2, 8, 8, 5)),
    ),
    "aspp_head": (
        lambda: ASPPHead(3, rates=(1, 2), hidden_channels=4),
        _features((2, 8, 8, 5)),
    ),
}

# Variables (trainable, non-trainable) of each case.
COUNTS = {
    "adashare": (61, 42),
    "aspp_head": (12, 0),
    "classifier_head": (4, 0),
    "dense_head": (5, 2),
    "feature_partitioning": (29, 28),  # a mask per stage (#15 item 6)
    "hard_sharing": (60, 40),
    # No `phase` variable: the plan given to the call picks the gate mode.
    "mtl_nas": (65, 39),
    "nddr": (52, 28),
    "resnet": (60, 40),
    "tag_resnet": (9, 6),
    "taps": (160, 101),
    "vgg16": (60, 30),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name, tmp_path):
    factory, inputs = CASES[name]
    trainable, non_trainable = COUNTS.get(name, (None, None))
    run_layer_test(
        factory,
        _images() if inputs is None else inputs,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
        tmp_dir=tmp_path,
    )


# Variables (trainable, non-trainable) of each weighting for 3 tasks;
# every weighting has one.
WEIGHTING_COUNTS = {
    "aligned_mtl": (0, 2),
    "cagrad": (0, 2),
    "composed": (1, 6),  # its state, UW's and PCGrad's
    "config": (0, 2),
    "db_mtl": (0, 3),
    "dualproj": (0, 2),
    "dwa": (0, 6),
    "ew": (0, 2),
    "excess_mtl": (0, 5),
    "fairgrad": (0, 2),
    "famo": (0, 6),
    "fixed": (0, 2),
    "gls": (0, 2),
    "graddrop": (0, 2),
    "gradnorm": (1, 3),
    "gradvac": (0, 3),
    "imtl": (0, 2),
    "mgda": (0, 2),
    "moco": (0, 4),
    "nash_mtl": (0, 3),
    "pcgrad": (0, 2),
    "rlw": (0, 2),
    "sdmgrad": (0, 3),
    "stch": (0, 4),
    "upgrad": (0, 2),
    "uw": (1, 2),
}


@pytest.mark.parametrize("name", sorted(weighting.ALL))
def test_weighting_contract(name, tmp_path):
    cls = weighting.ALL[name]
    kwargs = {"seed": 3} if "seed" in cls.__init__.__code__.co_varnames else {}
    losses = np.array([1.0, 2.0, 0.5], "float32")
    inputs = (losses,)
    if cls.needs_gramian is not None:
        jacobian = _features((3, 4), seed=1)
        inputs = (losses, jacobian @ jacobian.T)
    trainable, non_trainable = WEIGHTING_COUNTS[name]
    run_layer_test(
        lambda: cls(**kwargs),
        inputs,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
        batch_dim=False,
        tmp_dir=tmp_path,
    )
