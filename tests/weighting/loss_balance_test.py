"""GLS and STCH against their objectives, differentiated numerically.

References: LibMTL ``LibMTL/weighting/GLS.py`` (``GLS.backward``: the
loss ``prod(L)^(1/K)``) and ``LibMTL/weighting/STCH.py``
(``STCH.backward``: ``sum log L`` in warm-up, then
``K mu logsumexp(log(L / z + 1e-20) / mu)``). The weights are the
derivatives of those objectives in the losses, taken by central finite
differences in float64.
"""

import numpy as np
import tensorflow as tf

from tfmtl.weighting import GLS, STCH


def numerical_weights(objective, losses, eps=1e-6):
    out = []
    for i in range(len(losses)):
        step = np.zeros_like(losses)
        step[i] = eps * losses[i]
        out.append(
            (objective(losses + step) - objective(losses - step))
            / (2 * step[i])
        )
    return np.array(out)


def layer_weights(layer, losses, training=True):
    if not layer.built:
        layer.build(len(losses))
    layer(tf.constant(losses, tf.float32), training=training)
    return layer.task_weights.numpy()


def test_gls_matches_the_geometric_mean_gradient():
    rng = np.random.default_rng(0)
    for k in (2, 3, 5, 9):
        losses = rng.uniform(0.1, 5.0, size=k).astype(np.float32)
        losses = losses.astype(np.float64)
        expected = numerical_weights(
            lambda x: np.prod(x) ** (1.0 / len(x)), losses
        )
        w = layer_weights(GLS(), losses)
        np.testing.assert_allclose(w, expected, rtol=1e-5)
        # Its value is the geometric mean.
        np.testing.assert_allclose(
            w @ losses, np.exp(np.mean(np.log(losses))), rtol=1e-5
        )


def test_stch_warmup_nadir_and_smooth_max():
    rng = np.random.default_rng(1)
    k, epoch_length, warmup, mu = 3, 2, 1, 0.5
    layer = STCH(mu=mu, warmup_epochs=warmup, epoch_length=epoch_length)
    seen = []
    for step in range(8):
        losses = rng.uniform(0.2, 3.0, size=k).astype(np.float32)
        losses = losses.astype(np.float64)
        w = layer_weights(layer, losses)
        epoch = step // epoch_length
        if epoch <= warmup:  # sum log L
            expected = numerical_weights(lambda x: np.sum(np.log(x)), losses)
            if epoch == warmup:
                seen.append(losses)
        else:
            nadir = np.mean(seen, axis=0)

            def objective(x, nadir=nadir):
                scaled = np.log(x / nadir + 1e-20)
                top = scaled.max()
                return (
                    mu * np.log(np.sum(np.exp((scaled - top) / mu))) * k
                    + k * top
                )

            expected = numerical_weights(objective, losses)
            np.testing.assert_allclose(
                w @ losses,
                k * np.sum(expected * losses) / np.sum(expected * losses),
                rtol=1e-5,
            )
        np.testing.assert_allclose(w, expected, rtol=1e-5)
