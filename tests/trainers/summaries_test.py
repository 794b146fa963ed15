"""Summary helpers: panels, hparams from gin macros."""

import numpy as np

from tfmtl.train import one_line, rewrite_gin_args, scalar_macros
from tfmtl.trainers import summaries


def test_dense_panel_places_input_label_prediction_side_by_side():
    images = np.full((2, 4, 4, 3), 0.5, np.float32)
    labels = np.zeros((2, 4, 4), np.int32)
    labels[:, 0, 0] = 255
    logits = np.zeros((2, 4, 4, 3), np.float32)
    logits[..., 2] = 1.0
    panel = summaries.dense_panel("segmentation", images, labels, logits)
    assert panel.shape == (2, 4, 12, 3)
    np.testing.assert_array_equal(panel[:, :, :4], images)
    np.testing.assert_array_equal(panel[0, 0, 4], [0, 0, 0])  # ignore label
    np.testing.assert_allclose(panel[0, 1, 8], summaries._PALETTE[2])
    depth = summaries.dense_panel(
        "depth", images, np.ones((2, 4, 4, 1)), np.zeros((2, 4, 4, 1))
    )
    assert depth[0, 0, 4, 0] == 1.0 and depth[0, 0, 8, 0] == 0.0


def test_gin_argument_helpers():
    assert rewrite_gin_args(["prog", "--gin.LR=0.1", "--mode=train"]) == [
        "prog",
        "--gin_bindings=LR = 0.1",
        "--mode=train",
    ]
    config = "LR = 0.1\nNAME = 'x'\nTASKS = ['a']\nlower.x = 2\n"
    assert scalar_macros(config) == {"LR": 0.1, "NAME": "x"}
    message = one_line(ValueError("bad\n  thing In call to configurable 'x'"))
    assert message == "ValueError: bad thing"
