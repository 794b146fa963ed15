"""The gates of MTL-NAS's candidate edges, from their logits `alpha`.

A gate mode maps the logits to gates:

* `sigmoid`: `sigmoid(alpha)` (deterministic relaxation);
* `relaxed_bernoulli`: `sigmoid((alpha + log u - log(1 - u)) / tau)`,
  `u ~ U(0, 1)` per edge and forward pass (reparameterised);
* `hard`: `1[alpha > 0]` (the discretised network);
* `bernoulli`: a hard sample `1[u < sigmoid(alpha)]` with a
  straight-through gradient;
* `all`: 1 (the supernet baseline).
"""

import tensorflow as tf

GATE_MODES = ("sigmoid", "relaxed_bernoulli", "hard", "bernoulli", "all")


def check_gate_mode(mode):
    """Raises ValueError unless `mode` is one of `GATE_MODES`."""
    if mode not in GATE_MODES:
        raise ValueError(
            f"Unknown gate mode {mode!r}; expected one of {GATE_MODES}."
        )


def gate_values(alpha, mode, temperature):
    """The gates of `mode` for the logits `alpha`.

    Args:
        alpha: float tensor or variable of logits.
        mode: one of `GATE_MODES`.
        temperature: the relaxation temperature `tau` (read only by
            `relaxed_bernoulli`).

    Returns:
        Float tensor shaped like `alpha`.
    """
    alpha = tf.convert_to_tensor(alpha)
    if mode == "sigmoid":
        return tf.sigmoid(alpha)
    if mode == "hard":
        return tf.cast(alpha > 0, alpha.dtype)
    if mode == "all":
        return tf.ones_like(alpha)
    u = tf.random.uniform(tf.shape(alpha), 1e-6, 1.0 - 1e-6)
    if mode == "relaxed_bernoulli":
        noise = tf.math.log(u) - tf.math.log1p(-u)
        tau = tf.convert_to_tensor(temperature)
        return tf.sigmoid((alpha + noise) / tau)
    # compat: straight-through gradient through the hard Bernoulli sample
    # (a design choice here; the reference's use of hard samples in the
    # architecture step was not verified).
    p = tf.sigmoid(alpha)
    hard = tf.cast(u < p, alpha.dtype)
    return hard + (p - tf.stop_gradient(p))


def bernoulli_entropy(alpha):
    """Mean Bernoulli entropy of `sigmoid(alpha)` (nats)."""
    alpha = tf.convert_to_tensor(alpha)
    p = tf.sigmoid(alpha)
    per_edge = p * tf.nn.softplus(-alpha) + (1 - p) * tf.nn.softplus(alpha)
    return tf.reduce_mean(per_edge)
