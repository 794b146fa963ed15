"""Task construction from names and data sources."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.models.heads import ASPPHead, ClassifierHead, DenseHead


def test_kinds_are_guessed_from_names():
    built = tasks_lib.build_tasks(
        ["segmentation", "depth", "normals", "edges", "Smiling"],
        num_classes={"segmentation": 7},
    )
    kinds = {t.name: (t.kind, t.num_outputs, t.dense) for t in built}
    assert kinds == {
        "segmentation": ("segmentation", 7, True),
        "depth": ("depth", 1, True),
        "normals": ("normals", 3, True),
        "edges": ("regression", 1, True),
        "Smiling": ("binary", 2, False),
    }
    assert isinstance(built[0].head(), DenseHead)
    assert isinstance(built[-1].head(), ClassifierHead)
    assert built[0].head() is not built[0].head()  # fresh layer per call


def test_losses_are_wired_per_kind():
    (seg,) = tasks_lib.build_tasks(
        ["segmentation"], num_classes={"segmentation": 2}, ignore_label=9
    )
    labels = tf.constant([[[0, 9]]])
    logits = tf.constant([[[[2.0, 0.0], [0.0, 5.0]]]])
    # Only the first pixel counts: -log softmax([2, 0])[0].
    expected = -np.log(np.exp(2.0) / (np.exp(2.0) + 1.0))
    np.testing.assert_allclose(seg.loss(labels, logits), [expected], rtol=1e-6)


def test_tasks_for_source_uses_its_kinds_and_heads():
    source = SyntheticScenes(image_size=16, num_classes=5)
    built = tasks_lib.tasks_for(
        source, ["segmentation", "attr_b1"], dense_head=ASPPHead
    )
    assert [t.kind for t in built] == ["segmentation", "binary"]
    assert built[0].num_outputs == 5
    head = built[0].head()
    assert isinstance(head, ASPPHead) and head.num_outputs == 5


def test_bad_task_specifications():
    with pytest.raises(ValueError, match="Duplicate task names"):
        tasks_lib.build_tasks(["a", "a"])
    with pytest.raises(ValueError, match="needs num_classes"):
        tasks_lib.build_tasks(["segmentation"])
    with pytest.raises(ValueError, match="unknown tasks"):
        tasks_lib.build_tasks(["a"], kinds={"b": "binary"})
    with pytest.raises(ValueError, match="unknown kind"):
        tasks_lib.build_tasks(["a"], kinds={"a": "ranking"})
    with pytest.raises(ValueError, match=r"Unknown tasks \['colour'\]"):
        tasks_lib.tasks_for(SyntheticScenes(), ["depth", "colour"])


def test_override_tasks_replaces_losses_and_appends_metrics():
    from tfmtl import losses
    from tfmtl.metrics import NormalsCosine

    built = tasks_lib.build_tasks(
        ["segmentation", "normals", "depth"], num_classes={"segmentation": 3}
    )
    weights = [1.0, 2.0, 0.5]

    def weighted(labels, logits):
        return losses.weighted_segmentation_cross_entropy(
            labels, logits, class_weights=weights
        )

    cosine = NormalsCosine()
    changed = tasks_lib.override_tasks(
        built,
        losses={"segmentation": weighted, "keypoints": None},
        extra_metrics={"normals": [cosine]},
    )
    assert [t.name for t in changed] == ["segmentation", "normals", "depth"]
    assert changed[0].loss is weighted and changed[2] == built[2]
    assert changed[1].metrics == (*built[1].metrics, cosine)
    assert built[1].metrics == (built[1].metrics[0],)  # originals untouched
    labels = np.array([[[0, 1], [2, 1]]], np.int32)
    logits = np.random.default_rng(0).normal(size=(1, 2, 2, 3))
    plain = float(built[0].loss(labels, logits)[0])
    assert float(changed[0].loss(labels, logits)[0]) != pytest.approx(plain)
