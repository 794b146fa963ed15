"""The AdaShare configs initialise as the reference.

Reference (sunxm2357/AdaShare): models/deeplab_resnet.py,
`Deeplab_ResNet_Backbone.__init__` draws every trunk Conv2d weight from
N(0, 0.01^2) and sets BatchNorm weight 1 and bias 0; models/base.py,
`Classification_Module` (the ASPP branches) keeps PyTorch's Conv2d default,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. The expected figures
are recomputed here in float64.
"""

import os

import gin
import numpy as np
import pytest

from tests.models.initializer_checks import assert_torch_default_conv_init
from tfmtl.models import backbones, heads

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
CONFIGS = [
    "cityscapes_2task",
    "nyu_v2_2task",
    "nyu_v2_3task",
    "taskonomy_5task",
]


@pytest.fixture(params=CONFIGS)
def configured(request):
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    gin.parse_config_files_and_bindings(
        [os.path.join(ROOT, f"gin_configs/adashare/{request.param}.gin")],
        ["DATA_DIR = '/nowhere'", "MODEL_DIR = '/nowhere'"],
    )
    try:
        yield request.param
    finally:
        gin.clear_config()


def test_trunk_kernels_are_normal_with_std_0_01(configured):
    trunk = gin.get_configurable(backbones.ResNet)()
    trunk.build((None, 64, 64, 3))
    kernels = [
        np.asarray(w, np.float64) for w in trunk.weights if "kernel" in w.path
    ]
    assert len(kernels) >= 20
    for kernel in kernels:
        np.testing.assert_allclose(kernel.std(), 0.01, rtol=0.05)
        assert abs(kernel.mean()) < 5 * 0.01 / np.sqrt(kernel.size)
        within = np.mean(np.abs(kernel) < 0.01)
        assert abs(within - 0.682689) < 0.03  # P(|z| < 1) of a normal
    # Every convolution has its own draw.
    same = [k for k in kernels if k.shape == kernels[2].shape]
    assert len(same) >= 3
    assert not np.allclose(same[0], same[1])
    for weight in trunk.weights:
        if "gamma" in weight.path:
            np.testing.assert_array_equal(weight, 1.0)
        if "beta" in weight.path:
            np.testing.assert_array_equal(weight, 0.0)


def test_head_kernels_and_biases_follow_the_torch_default(configured):
    channels = 32
    head = gin.get_configurable(heads.ASPPHead)(7)
    head.build((None, 8, 8, channels))
    hidden = head.hidden_channels
    fan_ins = {"conv1": 9 * channels, "conv2": hidden, "conv3": hidden}
    assert_torch_default_conv_init(
        head, fan_ins, std_min_size=7000, std_rtol=0.05
    )
