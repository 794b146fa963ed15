"""AdaShare's policy regularisers: sparsity and sharing.

Reference: Sun et al., "AdaShare", NeurIPS 2020, Eq. 3-4, and the
`get_sparsity_loss2` / `get_hamming_loss` functions of the official code.
"""

import tensorflow as tf

SHARING_WEIGHTINGS = ("depth", "paper", "uniform")


def sparsity_loss(logits, num_train_layers):
    """Mean -log p(skip) over the unlocked blocks, summed over tasks.

    This is the loss of the published configs (`is_sharing=True` makes the
    position-weighted variant unreachable): cross-entropy towards "skip"
    over the last `num_train_layers` blocks of every task.

    Args:
        logits: float tensor [T, L, 2] (column 0 execute, 1 skip).
        num_train_layers: int scalar (tensor), blocks unlocked by the
            curriculum (counted from the top); 0 gives 0.

    Returns:
        float32 scalar.
    """
    logits = tf.cast(logits, tf.float32)
    num_blocks = tf.shape(logits)[1]
    k = tf.cast(num_train_layers, tf.int32)
    mask = tf.cast(tf.range(num_blocks) >= num_blocks - k, tf.float32)
    nll_skip = -tf.nn.log_softmax(logits, axis=-1)[..., 1]
    per_task = tf.reduce_sum(nll_skip * mask, axis=1) / tf.maximum(
        tf.cast(k, tf.float32), 1.0
    )
    return tf.reduce_sum(per_task)


def block_weights(num_blocks, weighting="depth"):
    """Per-block weights w_l of the sharing loss.

    Args:
        num_blocks: int L.
        weighting: "depth" for w_l = (l + 1) / L as in the official code
            (deeper blocks weigh more), "paper" for w_l = (L - l) / L as the
            paper describes (lower blocks weigh more, encouraging them to be
            shared), "uniform" for w_l = 1.

    Returns:
        float32 tensor [L].
    """
    index = tf.range(num_blocks, dtype=tf.float32)
    # compat: "depth" is what the reference code computes and what produced
    # its numbers, although the paper describes "paper".
    if weighting == "depth":
        return (index + 1.0) / num_blocks
    if weighting == "paper":
        return (num_blocks - index) / num_blocks
    if weighting == "uniform":
        return tf.ones([num_blocks])
    raise ValueError(
        f"weighting must be one of {SHARING_WEIGHTINGS}, got {weighting!r}."
    )


def sharing_loss(logits, weighting="depth"):
    """Weighted L1 distance between the execute logits of all task pairs.

    `sum_{i<j} sum_l w_l |logits[i, l, 0] - logits[j, l, 0]|`, on raw
    logits as in the official code.

    Args:
        logits: float tensor [T, L, 2].
        weighting: block weights, see `block_weights`.

    Returns:
        float32 scalar.
    """
    execute = tf.cast(logits, tf.float32)[..., 0]
    num_tasks = execute.shape[0]
    weights = block_weights(execute.shape[1], weighting)
    total = tf.constant(0.0)
    for i in range(num_tasks):
        for j in range(i + 1, num_tasks):
            distance = tf.abs(execute[i] - execute[j])
            total += tf.reduce_sum(weights * distance)
    return total
