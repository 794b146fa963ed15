"""TAG's affinity, fast mode: the lookahead on the last shared stage only.

A cheaper variant of `AffinityRecorder` for hard sharing (issue #18 item
3). The trunk is split into a prefix (stem and every block before the last
stage) and a suffix (the last stage's blocks and any final pooling). The
prefix output is computed once per measurement; each source then steps
only the suffix's parameters and runs only the suffix and the heads:

    Z[i -> j] = 1 - L_j(theta_p, theta_s - eta g_i^s) / L_j(theta)

with ``g_i^s`` the gradient of L_i w.r.t. the suffix parameters. This is
*exactly* TAG's lookahead restricted to those parameters (the prefix
keeps its weights); it is not the full lookahead, whose step also moves
the prefix. Per measurement it costs one prefix forward, K backward passes
through the suffix only, and one suffix-and-heads forward per source,
instead of K full backward and K full forward passes.

# compat: not in the paper or its code, which step every shared
# parameter; the error against the exact mode is measured, not bounded
# (`scripts/benchmark.py --suite=tag` and `docs/tag_fast_mode.md`).
"""

import tensorflow as tf

from tfmtl.methods.tag.affinity_recorder import AffinityRecorder
from tfmtl.models.multitask_model import resize_nearest


class LastStageAffinityRecorder(AffinityRecorder):
    """`AffinityRecorder` whose lookahead moves the trunk's last stage only.

    Needs a sharing module with a ``backbone`` made of ``stem``, ``blocks``
    (with ``stage_ends``) and optionally ``pool`` (`HardSharing` over
    `ResNet` or `TAGResNet`).

    Args:
        last_blocks: How many trailing blocks to look ahead on (None: the
            blocks of the last stage, from ``backbone.stage_ends``).
        **kwargs: `AffinityRecorder` arguments (``kind`` must be "tag").

    Example:
    ```python
    recorder = LastStageAffinityRecorder(every_n_steps=10)
    ```

    Reference:
        Fifty et al., NeurIPS 2021, arXiv:2109.04617 (the exact lookahead
        this restricts).
    """

    def __init__(self, last_blocks=None, **kwargs):
        super().__init__(**kwargs)
        if self.kind != "tag":
            raise ValueError("LastStageAffinityRecorder needs kind='tag'")
        if last_blocks is not None and int(last_blocks) < 1:
            raise ValueError(f"last_blocks must be >= 1, not {last_blocks}")
        self.last_blocks = last_blocks

    def split(self, model):
        """`(prefix_layers, suffix_layers)` of the model's trunk."""
        backbone = getattr(model.sharing, "backbone", None)
        blocks = list(getattr(backbone, "blocks", []))
        if backbone is None or not blocks or not hasattr(backbone, "stem"):
            raise ValueError(
                "LastStageAffinityRecorder needs a sharing module with a "
                "backbone of stem and blocks (HardSharing over ResNet or "
                f"TAGResNet), got {type(model.sharing).__name__}."
            )
        if self.last_blocks is not None:
            cut = max(len(blocks) - int(self.last_blocks), 0)
        else:
            ends = list(getattr(backbone, "stage_ends", []))
            cut = ends[-2] + 1 if len(ends) > 1 else 0
        pool = [backbone.pool] if hasattr(backbone, "pool") else []
        return [backbone.stem] + blocks[:cut], blocks[cut:] + pool

    def replica_probe(self, context):
        """Runs per replica inside `strategy.run`; traced. Same results as
        `AffinityRecorder.replica_probe` (``before``, ``after`` [S, K],
        ``lr``), for the suffix-only lookahead."""
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync
        model, batch = context.model, context.batch
        prefix, suffix = self.split(model)
        x = batch["image"]
        for layer in prefix:
            x, _ = layer.stateless_call(
                [v.value for v in layer.trainable_variables],
                [v.value for v in layer.non_trainable_variables],
                x,
                training=True,
            )
        cached = tf.stop_gradient(x)
        moved = [v for layer in suffix for v in layer.trainable_variables]
        grads = []
        for loss in context.losses:
            g = context.tape.gradient(loss, moved)
            g = [tf.zeros_like(v) if d is None else d for d, v in zip(g, moved)]
            if replicas > 1:
                g = replica.all_reduce("SUM", g)
            grads.append(g)
        sources = list(grads) + [
            [
                tf.add_n([grads[i][n] for i in members])
                for n in range(len(moved))
            ]
            for members in self.source_sets[len(grads) :]
        ]
        lr = context.learning_rate("weights")
        after = []
        for g in sources:
            looked = {
                id(v): v.value + self._step(context, v, d, lr)
                for v, d in zip(moved, g)
            }
            features = cached
            for layer in suffix:
                features, _ = layer.stateless_call(
                    [looked[id(v)] for v in layer.trainable_variables],
                    [v.value for v in layer.non_trainable_variables],
                    features,
                    training=True,
                )
            after.append(self._losses(context, features))
        return {
            "before": tf.stop_gradient(tf.stack(context.losses)),
            "after": tf.stack(after),
            "lr": lr / replicas,
        }

    def _losses(self, context, features):
        """Every task's loss from the trunk features, heads unchanged (as
        `MultiTaskModel.call` for hard sharing)."""
        model, batch = context.model, context.batch
        size = tf.shape(batch["image"])[1:3]
        out = []
        for task in context.plan.tasks:
            head = model.heads[task]
            y, _ = head.stateless_call(
                [v.value for v in head.trainable_variables],
                [v.value for v in head.non_trainable_variables],
                features,
                training=True,
            )
            y = tf.cast(y, tf.float32)
            if getattr(head, "dense", False):
                if model.dense_interpolation == "nearest":
                    y = resize_nearest(y, size)
                else:
                    y = tf.image.resize(y, size, method="bilinear")
            out.append(context.task_loss(task, batch["labels"][task], y))
        return tf.stack(out)
