"""The score gate of TAPS: a hard indicator with a straight-through gradient.

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (arXiv:2203.16708), Section 3.
"""

import keras


def straight_through_gate(score, threshold):
    """Returns `1[score >= threshold]` whose gradient w.r.t. `score` is 1.

    The forward value is the hard indicator; the backward pass treats the
    gate as the identity of `score`, so `dL/dscore = dL/dgate`, which for a
    gated kernel `w0 + gate * delta` is the inner product of the kernel
    gradient with `delta`.

    Args:
        score: float tensor (any shape).
        threshold: float, the gate is on where `score >= threshold`.

    Returns:
        A tensor like `score` holding 0.0 and 1.0.
    """
    hard = keras.ops.cast(
        keras.ops.greater_equal(score, threshold), score.dtype
    )
    return score + keras.ops.stop_gradient(hard - score)
