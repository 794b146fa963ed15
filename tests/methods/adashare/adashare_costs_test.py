"""Per-task path parameters and MACs against a hand computation."""

import tensorflow as tf

from tfmtl.methods.adashare import AdaShare
from tfmtl.methods.adashare.policy_io import path_costs
from tfmtl.models.backbones import ResNet
from tfmtl.models.heads import DenseHead
from tfmtl.models.multitask_model import MultiTaskModel

# ResNet-18, small stem (3x3 conv, stride 1), widths 2, 2, 4, 4, on 8x8
# images: stages at 8x8, 4x4, 2x2, 1x1; stages 2-4 open with a stride-2
# block and a 1x1 projection. Convolutions have no bias; a batch norm has
# 4 tensors of C values (gamma, beta, moving mean and variance).
# Per block: (residual convs as (H_out, k, C_in, C_out), projection).
STEM = (8, 3, 3, 2)
BLOCKS = [
    ([(8, 3, 2, 2), (8, 3, 2, 2)], None),
    ([(8, 3, 2, 2), (8, 3, 2, 2)], None),
    ([(4, 3, 2, 2), (4, 3, 2, 2)], (4, 1, 2, 2)),
    ([(4, 3, 2, 2), (4, 3, 2, 2)], None),
    ([(2, 3, 2, 4), (2, 3, 4, 4)], (2, 1, 2, 4)),
    ([(2, 3, 4, 4), (2, 3, 4, 4)], None),
    ([(1, 3, 4, 4), (1, 3, 4, 4)], (1, 1, 4, 4)),
    ([(1, 3, 4, 4), (1, 3, 4, 4)], None),
]
POLICY = {"a": [1, 0, 1, 0, 0, 1, 1, 0], "b": [0] * 8}
CLASSES = {"a": 3, "b": 1}


def _conv(h, k, c_in, c_out):
    """(MACs, params) of conv + its batch norm."""
    return h * h * k * k * c_in * c_out, k * k * c_in * c_out + 4 * c_out


def _head(classes):
    # DenseHead: 3x3 conv 4 -> 64 (no bias), BN, ReLU, 1x1 conv 64 -> C
    # with bias, at the 1x1 feature map.
    macs = 9 * 4 * 64 + 64 * classes
    params = 9 * 4 * 64 + 4 * 64 + 64 * classes + classes
    return macs, params


def _hand(decisions, classes):
    macs, params = _conv(*STEM)
    for (convs, projection), run in zip(BLOCKS, decisions):
        for conv in (convs if run else []) + [projection] * bool(projection):
            m, p = _conv(*conv)
            macs, params = macs + m, params + p
    head_macs, head_params = _head(classes)
    return macs + head_macs, params + head_params


def test_path_costs_match_a_hand_computation():
    sharing = AdaShare(
        ResNet(18, stem="small", widths=(2, 2, 4, 4)),
        ("a", "b"),
        policy=POLICY,
    )
    model = MultiTaskModel(
        sharing, {t: DenseHead(c) for t, c in CLASSES.items()}
    )
    model(tf.zeros((1, 8, 8, 3)))
    costs = path_costs(model, (8, 8, 3))
    for task, classes in CLASSES.items():
        macs, params = _hand(POLICY[task], classes)
        assert costs[task]["macs"] == macs, task
        assert costs[task]["flops"] == 2 * macs
        assert costs[task]["params"] == params, task
        assert costs[task]["executed_blocks"] == sum(POLICY[task])
    # "b" skips everything: stem, 3 projections and its head.
    assert costs["b"]["macs"] == 3456 + 64 + 32 + 16 + 2304 + 64
    # The union counts shared weights once: a's path plus b's head.
    head_b = _head(1)[1]
    assert costs["total"]["union_params"] == costs["a"]["params"] + head_b
    # The whole model has every block.
    every = _hand([1] * 8, 3)[1] + head_b
    assert costs["total"]["params"] == every
    # Every block executed (no policy given) costs the full network.
    full = path_costs(model, (8, 8, 3), policy={t: [1] * 8 for t in POLICY})
    assert full["a"]["macs"] == _hand([1] * 8, 3)[0]
