"""Gumbel-softmax relaxation and hard policy sampling for AdaShare.

Reference: Jang et al., "Categorical Reparameterization with
Gumbel-Softmax", ICLR 2017; Sun et al., "AdaShare", NeurIPS 2020.
"""

import numpy as np
import tensorflow as tf

_EPSILON = 1e-10


def gumbel_softmax(logits, temperature, hard=False, seed=None):
    """Draws a relaxed one-hot sample `softmax((logits + g) / temperature)`.

    Args:
        logits: float tensor [..., C] of unnormalised log-probabilities.
        temperature: positive float scalar (tensor or Python number).
        hard: if True, return the one-hot argmax of the relaxed sample
            with the straight-through gradient of the soft sample.
        seed: optional Python int for `tf.random.uniform`.

    Returns:
        float tensor with the shape of `logits`; each row sums to 1.
    """
    logits = tf.convert_to_tensor(logits)
    uniform = tf.random.uniform(
        tf.shape(logits),
        minval=_EPSILON,
        maxval=1.0,
        dtype=logits.dtype,
        seed=seed,
    )
    noise = -tf.math.log(-tf.math.log(uniform))
    temperature = tf.cast(temperature, logits.dtype)
    soft = tf.nn.softmax((logits + noise) / temperature, axis=-1)
    if not hard:
        return soft
    index = tf.argmax(soft, axis=-1)
    one_hot = tf.one_hot(index, tf.shape(logits)[-1], dtype=logits.dtype)
    return soft + tf.stop_gradient(one_hot - soft)


def hard_sample(logits, seed=None):
    """Draws one-hot categorical samples from `softmax(logits)` (in graph).

    Args:
        logits: float tensor [..., C].
        seed: optional Python int.

    Returns:
        float one-hot tensor with the shape of `logits`.
    """
    logits = tf.convert_to_tensor(logits)
    flat = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
    index = tf.random.categorical(flat, 1, seed=seed)[:, 0]
    one_hot = tf.one_hot(index, tf.shape(logits)[-1], dtype=logits.dtype)
    return tf.reshape(one_hot, tf.shape(logits))


def execute_probabilities(logits):
    """p(execute) = softmax(logits)[..., 0] of numpy logits [..., 2]."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp[..., 0] / exp.sum(axis=-1)


def sample_policy(logits, seed, num_train_layers=None):
    """Samples a hard execute (1) / skip (0) policy, seeded, on the host.

    Each block of each task is a Bernoulli draw with p = p(execute), as the
    reference `test_sample_policy` does. Blocks the curriculum has not yet
    unlocked (all but the last `num_train_layers`) always execute.

    Args:
        logits: array [T, L, 2] of policy logits (column 0: execute).
        seed: int seed of the draw.
        num_train_layers: int, the number of trainable (last) blocks; None
            means all blocks.

    Returns:
        int array [T, L] with 1 = execute, 0 = skip.
    """
    p_exec = execute_probabilities(logits)
    rng = np.random.default_rng(seed)
    policy = (rng.random(p_exec.shape) < p_exec).astype(np.int64)
    num_blocks = p_exec.shape[-1]
    # compat: the reference samples every block; blocks the curriculum never
    # unlocked kept their initial logits, so they execute here instead of
    # being drawn at p = 0.5 (identical once the curriculum is complete).
    if num_train_layers is not None:
        policy[:, : num_blocks - int(num_train_layers)] = 1
    return policy
