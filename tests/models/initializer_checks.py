"""Shared test assertion: PyTorch's default Conv2d initialisation."""

import numpy as np


def assert_torch_default_conv_init(layer, fan_ins, std_min_size, std_rtol):
    """Asserts every weight of `layer` is drawn as PyTorch's Conv2d default.

    PyTorch's `Conv2d.reset_parameters` draws kernel and bias from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)),
    whose std is bound / sqrt(3). Checked in float64: no value outside the
    bound; arrays of 64 or more values reach past half of it (probability
    1 - 2^-64); arrays of `std_min_size` or more values have that std.

    Args:
        layer: a built layer whose weight paths end in `..._<conv>/<name>`.
        fan_ins: `{conv: fan_in}` for every convolution name in the paths.
        std_min_size: smallest array size whose std is checked.
        std_rtol: relative tolerance of the std check.
    """
    for weight in layer.weights:
        conv = weight.path.split("_")[-1].split("/")[0]
        bound = 1.0 / np.sqrt(fan_ins[conv])
        values = np.asarray(weight, np.float64)
        assert np.abs(values).max() <= bound * (1 + 1e-6), weight.path
        if values.size >= 64:
            assert np.abs(values).max() > 0.5 * bound, weight.path
        if values.size >= std_min_size:
            np.testing.assert_allclose(
                values.std(), bound / np.sqrt(3), rtol=std_rtol
            )
