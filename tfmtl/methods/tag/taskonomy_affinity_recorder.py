"""TAG's affinity with the Taskonomy patch's lookahead: SGD + weight decay.

Reference: `Trainer.lookahead` in google-research `tag/taskonomy/tag.patch`
(applied to `train_taskonomy.py` of github.com/tstandley/taskgrouping).
For each source task the patch adds `weight_decay * theta` to the shared
gradient and steps `theta - lr * d`: its momentum branch looks for
`'momentum_buffer'` in `param_groups[0]`, where PyTorch never keeps it, so
the momentum is never used. It measures every 10th batch and divides
`1 - L_after / L_before` by the learning rate, as `AffinityRecorder` does.
"""

import tensorflow as tf

from tfmtl.methods.tag.affinity_recorder import AffinityRecorder


class TaskonomyAffinityRecorder(AffinityRecorder):
    """`AffinityRecorder` whose lookahead is `theta - lr * (g + wd * theta)`.

    Args:
        weight_decay: float >= 0, the patch's `weight_decay` (1e-4).
        every_n_steps: Steps between measurements (the patch: 10).
        write_every: Steps between writes of the running average.
        filename: Name of the matrix file in `model_dir`.
        sources: Lookahead sources, as `AffinityRecorder`.
        steps_per_epoch: Per-epoch history, as `AffinityRecorder`.

    Example:
    ```python
    recorder = TaskonomyAffinityRecorder(weight_decay=1e-4)
    ```

    Reference:
        - [Fifty et al., 2021](https://arxiv.org/abs/2109.04617)
    """

    # compat: the patch looks ahead on `model.encoder` only (its shared
    # `final_conv` keeps its weights); here every shared variable of the
    # sharing module steps, as the paper's definition of theta_s says.
    # compat: the patch's lookahead forward runs in train mode and so moves
    # the BatchNorm running statistics; `stateless_call` leaves them.

    def __init__(
        self,
        weight_decay=1e-4,
        every_n_steps=10,
        write_every=100,
        filename="affinity.json",
        sources="tasks",
        steps_per_epoch=None,
    ):
        super().__init__(
            every_n_steps=every_n_steps,
            lookahead="sgd",
            divide_by_lr=True,
            kind="tag",
            write_every=write_every,
            filename=filename,
            sources=sources,
            steps_per_epoch=steps_per_epoch,
        )
        weight_decay = float(weight_decay)
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, not {weight_decay}")
        self.weight_decay = weight_decay

    def _step(self, context, variable, gradient, lr):
        """The lookahead displacement `-lr * (g + wd * theta)`."""
        value = tf.convert_to_tensor(variable)
        gradient = tf.cast(gradient, value.dtype)
        if tf.is_tensor(lr):
            lr = tf.cast(lr, value.dtype)
        else:  # a Python float, converted without a float32 round trip
            lr = tf.constant(lr, value.dtype)
        return -lr * (gradient + self.weight_decay * value)
