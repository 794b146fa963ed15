"""AdaShare: per-task execute/skip policies over a shared residual trunk."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.methods.adashare import gumbel, regularizers
from tfmtl.methods.adashare.policy_io import load_policy
from tfmtl.sharing.backbone_sharing import BackboneSharing

EVAL_POLICIES = ("sample", "argmax")


@keras.saving.register_keras_serializable(package="tfmtl")
class AdaShare(BackboneSharing):
    """Residual blocks of a shared trunk gated per task by learned policies.

    Every task has free policy logits [L, 2] (column 0 execute, column 1
    skip) over the L residual blocks of `backbone`. Block l of task k
    outputs `u_exec * relu(residual(x) + shortcut(x)) + u_skip * shortcut(x)`
    where `u` is the policy row: a skipped block returns its shortcut (the
    identity, or the projection at the first block of a stage, so shapes
    stay consistent).

    * Training with learned policies (`policy=None`): `u` is a soft
      Gumbel-softmax sample at temperature `temperature` (annealed by
      `AdaShareCurriculum`). Only the last `num_train_layers` blocks use the
      policy; the lower ones execute (curriculum; 0 = warm-up, all blocks
      run). The sparsity and sharing regularisers (and the coupled L2 decay
      of the logits) are added with `add_loss`; they only reach the logits.
    * Inference with learned policies: a hard policy drawn from
      softmax(logits) (`eval_policy="sample"`, as the reference code) or its
      argmax.
    * Fixed policy (`policy` given; retraining and testing): a static hard
      policy. Skipped residual branches are not computed and tasks whose
      policies agree on a prefix of blocks share that computation.

    Variable groups (optimizer keys): the logits are in "arch", the trunk
    in `backbone_group` and the heads in "weights" (`MultiTaskModel` puts
    them there), so `backbone_group="backbone"` gives heads and trunk their
    own learning rates, as the reference's `lr` / `backbone_lr`. With
    `alternate_group` set (and a learned policy), the trunk is also in that
    group and each head in "<alternate_group>/<task>", so the weight phases
    of policy learning can use another optimizer than the warm-up (the
    reference uses SGD there and Adam in the warm-up; see
    `AdaShareSchedule.weight_groups`).

    Args:
        backbone: a ResNet-like layer with `stem` and `blocks` (each with
            `residual(x, training)` and `shortcut(x, training)`).
        tasks: task names, in the order of the policy logits.
        policy: None to learn policies, or a fixed hard policy (see
            `load_policy`: dict or JSON path).
        init_temperature: float, initial Gumbel-softmax temperature.
        init_logit: float, initial value of every logit (0.5 in every
            published config: p(execute) = 0.5).
        sparsity_weight: float, weight of the sparsity regulariser.
        sharing_weight: float, weight of the sharing regulariser.
        sharing_weighting: "depth" (official code), "paper" or "uniform";
            see `regularizers.block_weights`.
        policy_weight_decay: float, coupled L2 decay of the logits (as
            PyTorch Adam's `weight_decay` on the policy optimizer).
        eval_policy: "sample" or "argmax", how inference picks a hard
            policy from learned logits.
        backbone_group: variable group of the trunk ("weights": shared with
            the heads).
        alternate_group: None, or the group of the trunk in the weight
            phases of policy learning (its heads: "<group>/<task>").
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to compute (default: all).
        training: Python bool.

    Example:
    >>> from tfmtl.models.backbones import ResNet
    >>> sharing = AdaShare(ResNet(18, stem="small", widths=(4, 4, 8, 8)),
    ...                    tasks=("a", "b"))
    >>> out = sharing(keras.ops.zeros((2, 16, 16, 3)), training=True)
    >>> tuple(sharing.policy_logits.shape)
    (2, 8, 2)

    Reference:
        Sun, Panda, Feris, Saenko, "AdaShare: Learning What To Share For
        Efficient Deep Multi-Task Learning", NeurIPS 2020,
        https://arxiv.org/abs/1911.12423.
    """

    def __init__(
        self,
        backbone,
        tasks=(),
        policy=None,
        init_temperature=5.0,
        init_logit=0.5,
        sparsity_weight=0.05,
        sharing_weight=0.05,
        sharing_weighting="depth",
        policy_weight_decay=5e-4,
        eval_policy="sample",
        backbone_group="weights",
        alternate_group=None,
        **kwargs,
    ):
        super().__init__(tasks=tasks, **kwargs)
        if not self.tasks:
            raise ValueError("AdaShare needs the task names (`tasks`).")
        if eval_policy not in EVAL_POLICIES:
            raise ValueError(
                f"eval_policy must be one of {EVAL_POLICIES}, "
                f"got {eval_policy!r}."
            )
        regularizers.block_weights(1, sharing_weighting)  # validates
        self.backbone = backbone
        self.policy = load_policy(policy)
        self.init_temperature = float(init_temperature)
        self.init_logit = float(init_logit)
        self.sparsity_weight = float(sparsity_weight)
        self.sharing_weight = float(sharing_weight)
        self.sharing_weighting = sharing_weighting
        self.policy_weight_decay = float(policy_weight_decay)
        self.eval_policy = eval_policy
        self.backbone_group = backbone_group
        self.alternate_group = alternate_group
        if alternate_group in ("weights", backbone_group, "arch"):
            raise ValueError(
                f"alternate_group {alternate_group!r} must differ from "
                "'weights', 'arch' and backbone_group."
            )
        self.num_blocks = len(backbone.blocks)
        if self.policy is not None:
            missing = [t for t in self.tasks if t not in self.policy]
            bad = [
                t for t, p in self.policy.items() if len(p) != self.num_blocks
            ]
            if missing or bad:
                raise ValueError(
                    f"The fixed policy must give {self.num_blocks} decisions "
                    f"for every task; missing {missing}, wrong length {bad}."
                )

    @property
    def learns_policy(self):
        """Whether the policies are learned (no fixed policy given)."""
        return self.policy is None

    def build(self, input_shape):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        if self.learns_policy:
            self.policy_logits = self.add_weight(
                name="policy_logits",
                shape=(len(self.tasks), self.num_blocks, 2),
                initializer=keras.initializers.Constant(self.init_logit),
                trainable=True,
            )
            self.temperature = self.add_weight(
                name="temperature",
                shape=(),
                initializer=keras.initializers.Constant(self.init_temperature),
                trainable=False,
                aggregation="only_first_replica",
            )
            self.num_train_layers = self.add_weight(
                name="num_train_layers",
                shape=(),
                initializer="zeros",
                dtype="int32",
                trainable=False,
                aggregation="only_first_replica",
            )
        self.built = True

    # ------------------------------------------------------------ groups
    def _trunk_variables(self):
        return list(self.backbone.trainable_variables)

    def shared_variables(self):
        return self._trunk_variables()

    def variable_groups(self):
        groups = {self.backbone_group: self._trunk_variables()}
        if self.learns_policy:
            groups["arch"] = [self.policy_logits]
            if self.alternate_group:
                groups[self.alternate_group] = self._trunk_variables()
                for task in self.tasks:
                    # MultiTaskModel adds the task's head to this group.
                    groups[f"{self.alternate_group}/{task}"] = []
        return groups

    # ----------------------------------------------------------- policies
    def gates(self, training=None):
        """The policy rows used by a forward pass: float32 [T, L, 2].

        Soft Gumbel samples in training, hard samples at inference; blocks
        below the curriculum's unlocked ones are forced to execute.
        """
        logits = tf.cast(self.policy_logits, tf.float32)
        if training:
            sample = gumbel.gumbel_softmax(logits, self.temperature)
        elif self.eval_policy == "argmax":
            # compat: the reference's argmax branch is broken (pitfall P6);
            # this is the intended deterministic policy.
            sample = tf.one_hot(tf.argmax(logits, axis=-1), 2)
        else:
            # compat: same law as the reference's numpy draw from
            # softmax(logits), but drawn in the graph at every call.
            sample = gumbel.hard_sample(logits)
        k = tf.cast(self.num_train_layers, tf.int32)
        unlocked = tf.range(self.num_blocks) >= self.num_blocks - k
        execute = tf.constant([1.0, 0.0])
        return tf.where(unlocked[None, :, None], sample, execute)

    def policy_loss(self):
        """Weighted sparsity + sharing regularisers + logit decay."""
        logits = tf.cast(self.policy_logits, tf.float32)
        total = self.sparsity_weight * regularizers.sparsity_loss(
            logits, self.num_train_layers
        )
        total += self.sharing_weight * regularizers.sharing_loss(
            logits, self.sharing_weighting
        )
        total += 0.5 * self.policy_weight_decay * tf.reduce_sum(logits**2)
        return total

    def execute_probabilities(self):
        """numpy [T, L]: p(execute) of each block for each task."""
        return gumbel.execute_probabilities(
            np.asarray(self.policy_logits.numpy())
        )

    # ------------------------------------------------------------ forward
    def call(self, images, tasks=None, training=None):
        tasks = tuple(tasks or self.tasks)
        x = self.backbone.stem(images, training=training)
        if not self.learns_policy:
            return self._fixed_forward(x, tasks, training)
        gates = self.gates(training)
        if training:
            # compat: the reference adds the regularisers in the policy step
            # only; here every training step adds them, but they depend on
            # the logits alone, so weight steps (which never update the
            # logits) are unaffected; only the logged objective differs.
            self.add_loss(self.policy_loss())
        outputs = {}
        for task in tasks:
            index = self.tasks.index(task)
            h = x
            for layer, block in enumerate(self.backbone.blocks):
                shortcut = block.shortcut(h, training=training)
                executed = keras.ops.relu(
                    block.residual(h, training=training) + shortcut
                )
                gate = tf.cast(gates[index, layer], h.dtype)
                h = gate[0] * executed + gate[1] * shortcut
            outputs[task] = h
        return outputs

    def _fixed_forward(self, x, tasks, training):
        cache, outputs = {(): x}, {}
        for task in tasks:
            key, h = (), x
            for layer, block in enumerate(self.backbone.blocks):
                key += (self.policy[task][layer],)
                if key not in cache:
                    shortcut = block.shortcut(h, training=training)
                    if key[-1]:
                        residual = block.residual(h, training=training)
                        shortcut = keras.ops.relu(residual + shortcut)
                    cache[key] = shortcut
                h = cache[key]
            outputs[task] = h
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "policy": None
                if self.policy is None
                else {t: list(p) for t, p in self.policy.items()},
                "init_temperature": self.init_temperature,
                "init_logit": self.init_logit,
                "sparsity_weight": self.sparsity_weight,
                "sharing_weight": self.sharing_weight,
                "sharing_weighting": self.sharing_weighting,
                "policy_weight_decay": self.policy_weight_decay,
                "eval_policy": self.eval_policy,
                "backbone_group": self.backbone_group,
                "alternate_group": self.alternate_group,
            }
        )
        return config
