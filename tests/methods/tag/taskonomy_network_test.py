"""TAG's Taskonomy encoder / decoder: contract and parameter counts.

Reference: `Encoder`, `Block`, `Decoder` and `XceptionTaskonomy` of
`model_definitions/xception_taskonomy_new.py` in tstandley/taskgrouping.
The expected counts are computed here from the reference's layer list
(PyTorch: separable = depthwise k*k*in + pointwise in*out, no bias; the
2x2/2 downsampling `nn.Conv2d` has a bias; BatchNorm 2 weights + 2 stats).
"""

import numpy as np

from tfmtl.methods.tag.taskonomy_decoder import TaskonomyDecoder
from tfmtl.methods.tag.taskonomy_xception import TaskonomyXception
from tfmtl.testing import run_layer_test

SMALL = (4, 6, 8, 10) + (12,) * 9


def _reference_encoder_params(sizes, out=512):
    bn = lambda c: 2 * c  # noqa: E731  (trainable BatchNorm weights)
    sep = lambda i, o: 9 * i + i * o  # noqa: E731
    n = 27 * sizes[0] + bn(sizes[0]) + 9 * sizes[0] * sizes[1] + bn(sizes[1])
    for k, (i, o) in enumerate(zip(sizes[1:-1], sizes[2:])):
        reps, down = (2, True) if k < 3 else (3, False)
        if i != o or down:
            n += i * o + bn(o)
        n += sep(i, o) + bn(o) + (reps - 1) * (sep(o, o) + bn(o))
        if down:
            n += 4 * o * o + o
    return n + sep(sizes[-1], out) + bn(out)


def _reference_decoder_params(c_in, out, widths=(128, 64, 48, 32)):
    n, prev = 0, c_in
    for i, w in enumerate(widths):
        n += 4 * prev * w + w + 2 * w
        if i < 3:
            n += 9 * w * w + w + 2 * w
        prev = w
    return n + 9 * prev * out + out


def test_encoder_contract_and_counts():
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3))
    run_layer_test(
        lambda: TaskonomyXception(sizes=SMALL, output_channels=16),
        images.astype("float32"),
    )
    trunk = TaskonomyXception(sizes=SMALL, output_channels=16)
    assert trunk(images.astype("float32")).shape == (2, 2, 2, 16)
    trainable = sum(int(np.prod(v.shape)) for v in trunk.trainable_weights)
    assert trainable == _reference_encoder_params(SMALL, 16)


def test_patch_sized_encoder_count():
    trunk = TaskonomyXception()
    trunk.build((None, 64, 64, 3))
    trainable = sum(int(np.prod(v.shape)) for v in trunk.trainable_weights)
    expected = _reference_encoder_params((48, 96, 196, 384) + (1092,) * 9, 512)
    assert trainable == expected


def test_decoder_contract_and_counts():
    features = np.random.default_rng(1).normal(size=(2, 2, 2, 16))
    run_layer_test(
        lambda: TaskonomyDecoder(num_outputs=3, widths=(8, 8, 6, 4)),
        features.astype("float32"),
    )
    head = TaskonomyDecoder(num_outputs=18)
    head.build((None, 2, 2, 512))
    trainable = sum(int(np.prod(v.shape)) for v in head.trainable_weights)
    assert trainable == _reference_decoder_params(512, 18)
