"""MaskedConv2D, the trunk and the sharing module."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods.feature_partitioning import (
    FeaturePartitioning,
    MaskedConv2D,
    Partition,
    PartitionedResNet,
)


def _conv_with_masks():
    conv = MaskedConv2D(6, 3, num_tasks=2, padding="same", use_bias=True)
    conv.build((None, 5, 5, 3))
    forward = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]], np.float32)
    backward = np.array([[1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]], np.float32)
    conv.set_masks(forward, backward)
    return conv, forward, backward


def test_gradient_outside_backward_mask_is_exactly_zero():
    conv, forward, backward = _conv_with_masks()
    x = tf.random.normal((2, 5, 5, 3), seed=1)
    for task in (0, 1):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = conv(x, task=task)
            loss = tf.reduce_sum(y**2)
            # Reference: the same kernel without the gradient trick.
            plain = tf.nn.conv2d(x, conv.kernel, 1, "SAME") + conv.bias
            plain_loss = tf.reduce_sum((plain * forward[task]) ** 2)
        np.testing.assert_allclose(y, plain * forward[task], atol=1e-5)
        # Output channels outside the forward mask are zero.
        assert np.all(np.asarray(y)[..., forward[task] == 0] == 0)
        k_grad = np.asarray(tape.gradient(loss, conv.kernel))
        b_grad = np.asarray(tape.gradient(loss, conv.bias))
        off = backward[task] == 0
        assert np.all(k_grad[..., off] == 0.0)
        assert np.all(b_grad[off] == 0.0)
        plain_grad = np.asarray(tape.gradient(plain_loss, conv.kernel))
        np.testing.assert_allclose(
            k_grad, plain_grad * backward[task], rtol=1e-5, atol=1e-5
        )
        assert np.abs(k_grad[..., ~off]).sum() > 0
        # The input gradient is not masked.
        np.testing.assert_allclose(
            tape.gradient(loss, x),
            tape.gradient(plain_loss, x),
            rtol=1e-4,
            atol=1e-4,
        )


def test_masked_conv_config_round_trip():
    conv, _, _ = _conv_with_masks()
    clone = MaskedConv2D.from_config(conv.get_config())
    assert clone.num_tasks == 2 and clone.filters == 6


def test_trunk_shapes_and_frozen_prefix():
    net = PartitionedResNet(
        3, widths=(4, 8, 8, 16), blocks_per_stage=2, freeze_prefix=True
    )
    y = net(tf.ones((2, 72, 72, 3)), task=2)
    assert tuple(y.shape) == (2, 9, 9, 16)
    assert len(net.masked_convs()) == 2
    assert all(not c.trainable for c in net.prefix_convs())
    trainable = {id(v) for v in net.trainable_variables}
    assert all(
        id(v) not in trainable for c in net.prefix_convs() for v in c.weights
    )
    # Norms of the frozen part still train (3 tasks x 2 vars per norm).
    assert all(len(n.trainable_variables) == 6 for n in net.task_norms())
    blocks = net.last_stage(net.prefix(tf.ones((1, 16, 16, 3))), task=0)
    assert len(blocks) == 2


def test_sharing_masks_groups_and_serialisation():
    fp = FeaturePartitioning(
        ("a", "b"),
        Partition.independent(2),
        widths=(4, 8, 8),
        blocks_per_stage=2,
    )
    out = fp(tf.ones((1, 8, 8, 3)), tasks=("b",))
    assert list(out) == ["b"]
    for conv in fp.backbone.masked_convs():
        fwd = np.asarray(conv.forward_mask)
        np.testing.assert_array_equal(fwd.sum(1), [4, 4])
        assert (fwd[0] * fwd[1]).sum() == 0
    groups = fp.variable_groups()
    assert sorted(groups) == ["weights/a", "weights/b"]
    ids_a = {id(v) for v in groups["weights/a"]}
    own_b = {id(v) for v in fp.backbone.stem_norm.norms[1].trainable_variables}
    assert not ids_a & own_b
    clone = FeaturePartitioning.from_config(fp.get_config())
    clone(tf.ones((1, 8, 8, 3)))
    np.testing.assert_array_equal(
        clone.backbone.masked_convs()[0].forward_mask,
        fp.backbone.masked_convs()[0].forward_mask,
    )
    # Independent tasks: the features of task a do not depend on b's
    # channels, and each task's output differs.
    assert keras.ops.shape(clone(tf.ones((1, 8, 8, 3)))["a"])[-1] == 8


def test_model_saves_and_loads_with_masks(tmp_path):
    from tfmtl.models.heads import ClassifierHead
    from tfmtl.models.multitask_model import MultiTaskModel

    model = MultiTaskModel(
        FeaturePartitioning(
            ("a", "b"), "independent", widths=(4, 8, 8), blocks_per_stage=1
        ),
        {"a": ClassifierHead(2), "b": ClassifierHead(3)},
    )
    x = tf.random.normal((2, 16, 16, 3), seed=2)
    y = model(x)
    mask = np.array(model.sharing.backbone.masked_convs()[0].forward_mask)
    np.testing.assert_array_equal(mask.sum(1), [4, 4])
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_array_equal(
        loaded.sharing.backbone.masked_convs()[0].forward_mask, mask
    )
    np.testing.assert_allclose(loaded(x)["b"], y["b"], atol=1e-6)


def test_every_stage_is_masked_unless_the_prefix_is_frozen():
    # Reference models/masked_resnet.py: conv1 of every block is masked
    # unless last_third_only; masks are solved per width (num_feats).
    fp = FeaturePartitioning(
        ("a", "b"),
        Partition.independent(2),
        widths=(4, 8, 16),
        blocks_per_stage=2,
    )
    fp(tf.ones((1, 8, 8, 3)))
    convs = fp.backbone.masked_convs()
    assert convs == [block.conv1 for block in fp.backbone.blocks]
    for conv in convs:
        fwd = np.asarray(conv.forward_mask)
        np.testing.assert_array_equal(fwd.sum(1), [conv.filters // 2] * 2)
        assert (fwd[0] * fwd[1]).sum() == 0
    # The first stage's first conv: task a's output is zero off its mask.
    conv = convs[0]
    y = conv(tf.random.normal((1, 8, 8, 4)), task=0).numpy()
    off = np.asarray(conv.forward_mask)[0] == 0
    assert off.any() and np.all(y[..., off] == 0)
    frozen = PartitionedResNet(
        2, widths=(4, 8, 16), blocks_per_stage=2, freeze_prefix=True
    )
    assert frozen.masked_convs() == [b.conv1 for b in frozen.last_stage_blocks]
