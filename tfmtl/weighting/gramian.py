"""Gramians of the per-task gradients, for the gradient weighting methods.

``G_ij = g_i . g_j`` where ``g_i`` is the gradient of task i's loss w.r.t.
either the shared representation (cheap: the backward pass stops at the
representation) or the shared parameters (exact: a backward pass through the
whole trunk per task). The per-task gradients come from one vectorised
``tape.jacobian(..., experimental_use_pfor=True)`` call instead of K separate
backward passes.

Cost, for K tasks, a representation of R floats per replica and P shared
parameters:

* ``representation_gramian``: given the K losses as separate scalars, one
  backward per task from its loss to the representation, each through its
  own head only (together: one backward through all heads); given a stacked
  [K] vector, one pfor-vectorised backward, which runs every head's backward
  K times (zeros for the other tasks) and costs more with dense heads. K x R
  memory for the Jacobian, O(K^2 R) for the product, then an all-reduce of
  K^2 floats.
* ``parameter_gramian``: one pfor-vectorised backward through heads *and*
  trunk (memory about K times that of a backward pass, K x P floats for the
  Jacobian), an all-reduce of K x P floats, O(K^2 P) for the product. On CPU
  pfor brings no speed-up over K gradient calls (peers.md section 6.3).

Both must be called with a ``persistent=True`` tape (the trainer still needs
``tape.gradient`` of the weighted loss afterwards), preferably outside the
``with tape:`` block so the Jacobian computation itself is not recorded.
"""

import keras
import tensorflow as tf


def _unwrap(source):
    # Keras variables report a string dtype, which the tape's zero-filling
    # of unconnected gradients cannot use: differentiate the tf.Variable.
    return source.value if isinstance(source, keras.Variable) else source


def _flat_jacobian(tape, losses, sources):
    jacobians = tape.jacobian(
        losses,
        [_unwrap(source) for source in sources],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
        experimental_use_pfor=True,
    )
    num_tasks = tf.shape(losses)[0]
    return [
        tf.reshape(tf.cast(j, tf.float32), [num_tasks, -1]) for j in jacobians
    ]


def _per_task_jacobian(tape, losses, sources):
    """Rows of the Jacobian from one gradient call per task loss."""
    unwrapped = [_unwrap(source) for source in sources]
    rows = [
        tape.gradient(
            loss, unwrapped, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        for loss in losses
    ]
    return [
        tf.reshape(
            tf.cast(tf.stack([row[s] for row in rows]), tf.float32),
            [len(losses), -1],
        )
        for s in range(len(unwrapped))
    ]


def _gram(flat_jacobians):
    return tf.add_n([tf.matmul(j, j, transpose_b=True) for j in flat_jacobians])


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def representation_gramian(tape, losses, representations):
    """Gramian of the per-task gradients w.r.t. the shared representation.

    Args:
        tape: a persistent `tf.GradientTape` that recorded the forward pass.
        losses: this replica's share of the per-task losses: a list of K
            scalars as recorded on the tape (cheaper: each task's backward
            runs through its own head only), or a float32 [K] tensor.
        representations: a tensor or a list of tensors (the shared
            features of this replica's slice of the batch).

    Returns:
        float32 [K, K]. Under a distribution strategy the per-replica
        Gramians are summed: each replica's representation is a disjoint
        slice of the global batch, so the global Jacobian is the
        concatenation of the replicas' and its Gramian is their sum.
    """
    sources = tf.nest.flatten(representations)
    if isinstance(losses, list | tuple):
        gramian = _gram(_per_task_jacobian(tape, losses, sources))
    else:
        gramian = _gram(_flat_jacobian(tape, losses, sources))
    context = _replica_context()
    if context is not None:
        gramian = context.all_reduce("SUM", gramian)
    return gramian


def parameter_gramian(tape, losses, variables):
    """Gramian of the per-task gradients w.r.t. the shared parameters.

    Args:
        tape: a persistent `tf.GradientTape` that recorded the forward pass.
        losses: float32 [K], this replica's share of the per-task losses.
        variables: the shared variables (e.g. ``sharing.shared_variables()``).

    Returns:
        float32 [K, K]. Under a distribution strategy the per-task gradients
        are all-reduced (SUM, giving the global per-task gradients) before
        the product, so the result is the Gramian of the global gradients.
    """
    variables = tf.nest.flatten(variables)
    flat = _flat_jacobian(tape, losses, variables)
    context = _replica_context()
    if context is not None:
        flat = context.all_reduce("SUM", flat)
    return _gram(flat)
