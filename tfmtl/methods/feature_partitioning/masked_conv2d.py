"""A 2D convolution with per-task forward and backward channel masks."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfmtl")
class MaskedConv2D(keras.layers.Conv2D):
    """`Conv2D` whose output channels are partitioned among tasks.

    For task t, the output is multiplied channel-wise by the forward mask
    `m_fwd[t]` (the channels the task reads), and the kernel gradient is
    multiplied along the output axis by the backward mask `m_bwd[t]` (the
    filters the task may update). The backward mask lives in the forward
    pass: the kernel used is
    `m_bwd * kernel + (1 - m_bwd) * stop_gradient(kernel)`, which has the
    same value as `kernel` and a gradient that is exactly zero outside the
    mask, so the trainer needs no gradient hook. (The bias, when used, is
    treated the same way.)

    The masks are non-trainable weights [num_tasks, filters], initialised to
    ones and set with `set_masks`; they are saved in checkpoints, so a
    restored run keeps its masks.

    The task is a call argument rather than layer state: a backbone built
    from these layers passes its own task index down (see
    `PartitionedResNet`).

    Args:
        filters: int, output channels.
        kernel_size: int or pair.
        num_tasks: int, number of tasks (rows of the masks).
        **kwargs: Other `keras.layers.Conv2D` arguments.

    Call arguments:
        inputs: float tensor [B, H, W, C_in].
        task: int (or scalar int tensor), index of the active task.

    Example:
    >>> conv = MaskedConv2D(4, 3, num_tasks=2, padding="same")
    >>> y = conv(keras.ops.ones((1, 5, 5, 3)), task=1)
    >>> conv.set_masks([[1, 1, 0, 0], [0, 0, 1, 1]], [[1, 0, 0, 0]] * 2)
    >>> y = conv(keras.ops.ones((1, 5, 5, 3)), task=0)
    >>> float(keras.ops.sum(keras.ops.abs(y[..., 2:])))
    0.0

    Reference:
        Newell et al., "Feature Partitioning for Efficient Multi-Task
        Architectures", arXiv:1908.04339.
    """

    def __init__(self, filters, kernel_size, num_tasks=1, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.num_tasks = int(num_tasks)
        self._initial_masks = None

    def build(self, input_shape):
        super().build(input_shape)
        shape = (self.num_tasks, self.filters)
        initial = self._initial_masks or ("ones", "ones")
        self.forward_mask = self.add_weight(
            name="forward_mask",
            shape=shape,
            initializer=initial[0],
            trainable=False,
        )
        self.backward_mask = self.add_weight(
            name="backward_mask",
            shape=shape,
            initializer=initial[1],
            trainable=False,
        )

    def set_masks(self, forward, backward):
        """Sets `forward` and `backward` masks, arrays [N, filters].

        Before `build` they become the masks' initial values (Keras may
        build layers in a scope that discards assignments); after it they
        are assigned.
        """
        if not self.built:
            self._initial_masks = tuple(
                keras.initializers.Constant(
                    tf.cast(m, "float32").numpy().tolist()
                )
                for m in (forward, backward)
            )
            return
        self.forward_mask.assign(tf.cast(forward, self.forward_mask.dtype))
        self.backward_mask.assign(tf.cast(backward, self.backward_mask.dtype))

    @staticmethod
    def _gradient_masked(value, mask):
        mask = tf.cast(mask, value.dtype)
        return mask * value + (1.0 - mask) * tf.stop_gradient(value)

    def effective_kernel(self, task=0):
        """The kernel as task `task` sees it (gradient masked)."""
        backward = tf.gather(self.backward_mask, task)
        return self._gradient_masked(self.kernel, backward)

    def call(self, inputs, task=0):
        forward = tf.gather(self.forward_mask, task)
        backward = tf.gather(self.backward_mask, task)
        kernel = self._gradient_masked(self.kernel, backward)
        outputs = self.convolution_op(inputs, kernel)
        if self.use_bias:
            outputs = outputs + self._gradient_masked(self.bias, backward)
        outputs = outputs * tf.cast(forward, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _own_variables(self):
        variables = [self.kernel]
        if self.use_bias:
            variables.append(self.bias)
        return variables + [self.forward_mask, self.backward_mask]

    def save_own_variables(self, store):
        # compat: Keras' Conv2D saves only kernel and bias; the masks are
        # part of the model here.
        if self.built:
            for i, variable in enumerate(self._own_variables()):
                store[str(i)] = variable

    def load_own_variables(self, store):
        if self.built:
            for i, variable in enumerate(self._own_variables()):
                variable.assign(store[str(i)])

    def get_config(self):
        config = super().get_config()
        config["num_tasks"] = self.num_tasks
        return config
