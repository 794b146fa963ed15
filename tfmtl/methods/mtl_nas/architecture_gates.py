"""The architecture variables of MTL-NAS: edge logits, gates, penalties."""

import keras
import tensorflow as tf

from tfmtl.methods.mtl_nas import search_space
from tfmtl.methods.mtl_nas.gates import bernoulli_entropy, gate_values


class ArchitectureGates:
    """Mixin of `MTLNAS`: the logits `alpha` of the candidate edges.

    Adds to the layer the variables `alpha` [T, edges_per_task] and the
    non-trainable scalars `temperature`, `entropy_weight` and `l1_weight`
    (set by `ArchitectureSchedule`), the gates of the current
    mode, the entropy and L1 penalties and the discretised architecture.
    The layer provides `tasks`, `edges`, `num_blocks`, `edge_costs`,
    `alpha_init`, `architecture_init`, `train_architecture`,
    `initial_temperature`, `initial_entropy_weight`, `initial_l1_weight`
    and the gate modes `weight_gates`, `arch_gates` and `eval_gates`.
    """

    def _build_architecture(self):
        """Creates the architecture variables (from `build`)."""
        initial = search_space.initial_alpha(
            self.tasks, self.edges, self.alpha_init, self.architecture_init
        )
        self.alpha = self.add_weight(
            name="alpha",
            shape=initial.shape,
            initializer=lambda shape, dtype=None: tf.constant(initial),
            trainable=self.train_architecture,
            autocast=False,
        )
        self.temperature = self._scalar("temperature", self.initial_temperature)
        self.entropy_weight = self._scalar(
            "entropy_weight", self.initial_entropy_weight
        )
        self.l1_weight = self._scalar("l1_weight", self.initial_l1_weight)

    def _scalar(self, name, value):
        """A non-trainable scalar variable set by `ArchitectureSchedule`."""
        return self.add_weight(
            name=name,
            shape=(),
            initializer=keras.initializers.Constant(value),
            trainable=False,
            autocast=False,
        )

    # ---------------------------------------------------------------- gates
    def _gates_for(self, mode):
        return gate_values(self.alpha, mode, self.temperature)

    def gates(self, training=False, architecture_step=False):
        """The [T, edges_per_task] gates of a mode.

        Args:
            training: Python bool; False gives `eval_gates`.
            architecture_step: Python bool; in training, `arch_gates` when
                True, else `weight_gates`.
        """
        if not training:
            return self._gates_for(self.eval_gates)
        if architecture_step:
            return self._gates_for(self.arch_gates)
        return self._gates_for(self.weight_gates)

    def entropy(self):
        """Mean Bernoulli entropy of `sigmoid(alpha)` (nats)."""
        return bernoulli_entropy(self.alpha)

    def l1(self):
        """Mean of `cost * sigmoid(alpha)` over edges and tasks."""
        alpha = tf.convert_to_tensor(self.alpha)
        return tf.reduce_mean(tf.constant(self.edge_costs) * tf.sigmoid(alpha))

    def architecture(self):
        """The searched edges with their logits, JSON-serialisable (see
        `search_space.architecture_dict`)."""
        return search_space.architecture_dict(
            self.tasks, self.edges, self.alpha, self.num_blocks
        )
