"""Base class of the loss and gradient weighting methods.

A weighting turns the per-task losses (and, for gradient methods, the Gramian
of the per-task gradients) into the scalar the trainer differentiates. Gradient
methods never touch gradients themselves: every method implemented here
(PCGrad, MGDA, CAGrad, IMTL-G, GradVac, Nash-MTL, Aligned-MTL) produces a
combined gradient that is a linear combination ``sum_i w_i g_i`` of the task
gradients, with coefficients that depend on the gradients only through their
inner products ``G = J J^T``. The layer therefore returns
``sum_i stop_gradient(w_i) * L_i``, whose gradient is exactly that combination.
The only exception is GradDrop, which exposes ``transform_gradients``.

Distribution: ``call`` runs per replica inside ``strategy.run``. ``losses`` is
the replica's share of the global mean loss (summing over replicas gives the
global mean), so anything computed from loss *values* uses the all-reduced
losses (``global_losses``); the Gramian arrives already all-reduced. Terms of
the returned scalar that do not scale with the batch (UW's regulariser, the
GradNorm loss) are divided by the number of replicas so that the SUM
all-reduction of gradients done by the optimizer counts them once.
"""

import random

import keras
import tensorflow as tf

GRADIENT_SOURCES = ("representation", "parameters")


def num_replicas():
    """Number of replicas of the current replica context (1 outside one)."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 1
    return context.num_replicas_in_sync


def global_losses(losses):
    """Sums per-replica loss shares into the global mean losses."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return losses
    return context.all_reduce("SUM", losses)


@keras.saving.register_keras_serializable(package="tfmtl")
class Weighting(keras.layers.Layer):
    """Combines K per-task losses into one scalar to differentiate.

    Subclasses implement ``call`` and end it with ``self.combine(...)``.
    Class attributes read by the trainer:

    * ``needs_gramian``: ``None``, ``"representation"`` or ``"parameters"``
      (gradient methods take a ``gradients`` argument that overrides it per
      instance).
    * ``needs_per_task_gradients``: True only for GradDrop, whose
      ``transform_gradients`` maps per-task gradients to the combined one.
    * ``deterministic``: False for methods that draw random numbers (PCGrad's
      order, RLW, GradDrop); deterministic methods are equivariant to a
      permutation of the tasks.
    * ``supports_task_subsets``: True only for equal weighting, whose sum
      also means something on a step that trains a subset of the tasks
      (`SampledTask`, `Alternating`); the trainer refuses such a schedule
      with any other weighting instead of silently summing.

    State: ``build(num_tasks)`` creates ``task_weights`` (float32 [K], the
    coefficients of the last call, for logging) and ``iterations`` (int64, the
    number of training calls, which also keys the stateless random streams so
    that every replica draws the same numbers). State advances on every call
    except when ``training=False``.

    Args:
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K], this replica's share of the per-task losses.
        gramian: float32 [K, K] Gramian of the per-task gradients (identical
            on every replica), or None for loss-only methods.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    weighting = tfmtl.weighting.get("ew")
    weighting.build(3)
    total = weighting(tf.constant([1.0, 2.0, 3.0]))  # 6.0
    ```

    Reference:
        Lin & Zhang, "LibMTL: A Python Library for Multi-Task Learning",
        JMLR 24(209), 2023 (the loss/gradient weighting taxonomy).
    """

    needs_gramian = None
    needs_per_task_gradients = False
    deterministic = True
    supports_task_subsets = False

    def __init__(self, **kwargs):
        # Always float32: under a mixed-precision policy Keras would
        # otherwise cast the losses and the Gramian to float16.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tasks = None

    def build(self, num_tasks):
        if not isinstance(num_tasks, int):  # Keras passes the losses shape.
            num_tasks = int(tuple(num_tasks)[-1])
        self.num_tasks = num_tasks
        self.task_weights = self.state_variable("task_weights", "ones")
        self.iterations = self.state_variable(
            "iterations", "zeros", shape=(), dtype="int64"
        )
        self.built = True

    def state_variable(self, name, initializer, shape=None, dtype="float32"):
        """A non-trainable variable written identically by every replica."""
        return self.add_weight(
            name=name,
            shape=(self.num_tasks,) if shape is None else shape,
            initializer=initializer,
            dtype=dtype,
            trainable=False,
            aggregation="only_first_replica",
        )

    def check_gramian(self, gramian):
        """Validates the Gramian and cuts it out of the tape."""
        if gramian is None:
            raise ValueError(
                f"{type(self).__name__} needs the {self.needs_gramian} "
                "Gramian; the trainer passed gramian=None."
            )
        return tf.stop_gradient(tf.cast(gramian, tf.float32))

    def seed(self, seed):
        """Stateless seed [2] from a Python seed and the call counter."""
        return tf.stack([tf.constant(seed, tf.int64), self.iterations.value])

    def record(self, weights, training=None):
        """Logs ``weights`` in ``task_weights`` and advances the counter."""
        if training is not False:
            self.task_weights.assign(tf.cast(weights, tf.float32))
            self.iterations.assign_add(1)

    def combine(self, weights, losses, training=None, extra=None):
        """Records ``weights`` and returns ``sum(stop_gradient(w) * L)``.

        Args:
            weights: float32 [K] coefficients (their gradient is stopped).
            losses: float32 [K] losses of this replica.
            training: the ``training`` call argument.
            extra: optional scalar added as is (its gradient counts).
        """
        weights = tf.stop_gradient(tf.cast(weights, tf.float32))
        self.record(weights, training)
        total = tf.reduce_sum(weights * losses)
        return total if extra is None else total + extra

    def call(self, losses, gramian=None, training=None):
        raise NotImplementedError

    def compute_output_shape(self, *args, **kwargs):
        return ()


def default_seed(seed):
    """Resolves ``seed=None`` to a fixed draw (reproducible under
    ``keras.utils.set_random_seed``; recorded by ``get_config``)."""
    return random.randint(0, 2**31 - 1) if seed is None else int(seed)


def check_gradients(gradients):
    """Validates a ``gradients`` constructor argument."""
    if gradients not in GRADIENT_SOURCES:
        raise ValueError(
            f"gradients must be one of {GRADIENT_SOURCES}, got {gradients!r}"
        )
    return gradients
