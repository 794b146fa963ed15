"""MTL-NAS supernet: task-specific backbones with searchable fusion edges."""

import keras
import tensorflow as tf

from tfmtl.methods.mtl_nas import branches as branches_lib
from tfmtl.methods.mtl_nas import search_space
from tfmtl.methods.mtl_nas.architecture_gates import ArchitectureGates
from tfmtl.methods.mtl_nas.gates import GATE_MODES, check_gate_mode
from tfmtl.models.backbones.builders import fresh_initializer
from tfmtl.sharing.backbone_sharing import BackboneSharing

__all__ = ["GATE_MODES", "MTLNAS"]


@keras.saving.register_keras_serializable(package="tfmtl")
class MTLNAS(ArchitectureGates, BackboneSharing):
    """Searchable cross-task connections between T single-task backbones.

    **Search space.** Every task has its own backbone. A *searched* block
    `i` of task `t` (by default every block of every stage but the last:
    the 13 convolutions of VGG-16 with `per_conv_blocks=True`) may receive
    the pre-fusion output of block `j` of every other task `s` when `j` is
    in the same stage as `i` (same resolution and width), `j <= i` and
    `i - j < window`. With VGG-16 and `window=3` that is 24 candidate edges
    per task (48 for two tasks). Block `i`'s output is replaced by
    `NDDRFusion([x_i^t, g_1 y_1, ..., g_k y_k])` (1x1 conv + BN + ReLU over
    the own features and the gated incoming ones), initialised to
    `w_self * I` on the own features and `w_other / k * I` on each incoming
    edge; `(1, 0)` starts as the T independent single-task networks.

    **Architecture.** One logit `alpha` per candidate edge (variable
    `alpha` of shape [T, edges_per_task], group `arch_group`) gives the
    gate `g` of the edge according to a gate mode (`sigmoid`,
    `relaxed_bernoulli`, `hard`, `bernoulli` or `all`; see
    `tfmtl.methods.mtl_nas.gates`).

    Training uses `arch_gates` on the steps whose plan updates `arch_group`
    (architecture steps; the model passes the step's plan, so the mode is
    fixed when the step is traced) and `weight_gates` on the others;
    evaluation (`training=False`) uses `eval_gates`. `ArchitectureSchedule`
    sets the temperature `tau` (variable `temperature`) and the entropy
    weight (variable `entropy_weight`) before each step. In training
    the minimum-entropy regulariser `entropy_weight * H`, with `H` the mean
    Bernoulli entropy of `sigmoid(alpha)` over edges and tasks, is added
    with `add_loss`; it only reaches `alpha`. So is the optional L1 penalty
    `l1_weight * mean(cost * sigmoid(alpha))` (off by default; `cost` is 1,
    or with `l1_cost_weighted` the target block's width normalised to mean
    1 over the candidate edges).

    **Discretisation.** An edge is kept iff `alpha > 0`;
    `architecture()` returns the edges with their logits (JSON-ready) and
    the `architecture` argument starts a new supernet from such a result
    (retraining the discretised network: use `hard` gates everywhere and
    `train_architecture=False`).

    Args:
        backbone: zero-argument backbone factory (called once per task) or
            a backbone layer (cloned from its config for the other tasks);
            it must expose `stem`, `blocks` and `stage_ends`.
        tasks: task names, one branch each, in order.
        init_weights: `(w_self, w_other)` of the fusion init, or None for a
            random (He) init.
        window: int, depth limit of an edge (`i - j < window`).
        searched_blocks: block indices that receive edges (default: every
            block of every stage but the last).
        weight_gates: gate mode of weight steps.
        arch_gates: gate mode of architecture steps.
        eval_gates: gate mode of evaluation.
        alpha_init: float, initial architecture logit.
        temperature: float, initial relaxation temperature.
        entropy_weight: float, initial weight of the entropy regulariser.
        train_architecture: bool, whether `alpha` is trainable.
        architecture: None, a dict from `architecture()` or the path of its
            JSON file: initial logits of the matching edges.
        fusion_group: optimizer group of the fusion ops.
        arch_group: optimizer group of `alpha`.
        norm_momentum: float, fusion normalisation momentum (Keras
            convention).
        norm_epsilon: float, fusion normalisation epsilon.
        fusion: fusion op, `"nddr"` (`NDDRFusion`: 1x1 conv + BN + ReLU)
            or `"cross_stitch"` (`CrossStitchFusion`: a scalar per input,
            the cross-stitch ablation of MTL-NAS).
        kernel_initializer: fusion kernel init when `init_weights` is None
            (`"he_normal"`: the "random" init ablation).
        l1_weight: float, initial weight of the L1 penalty on the gates
            (variable `l1_weight`; `ArchitectureSchedule` can ramp it).
        l1_cost_weighted: bool, weight each edge's L1 term by its cost.
        branch_pretrained: None, or one weights file (or None) per task
            loaded into that task's backbone when it is built (MTL-NAS
            starts from the NYUv2 fine-tuned single-task networks); the
            backbone needs a `load_pretrained(path)` method (`VGG16`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to return (every branch is computed).
        training: Python bool.
        plan: the step's `Plan` (None: a weight step); an architecture
            step when its `groups` contain `arch_group`.

    Example:

    >>> from tfmtl.models.backbones import ResNet
    >>> nas = MTLNAS(lambda: ResNet(18, stem="small",
    ...                             widths=(4, 4, 8, 8)), tasks=("a", "b"))
    >>> nas(keras.ops.zeros((1, 16, 16, 3)))["a"].shape
    TensorShape([1, 2, 2, 8])
    >>> nas.alpha.shape  # 3 searched stages of 2 blocks: 3 edges each
    (2, 9)

    Reference:
        [Gao et al., "MTL-NAS: Task-Agnostic Neural Architecture Search
        towards General-Purpose Multi-Task Learning", CVPR 2020](
        https://arxiv.org/abs/2003.14058)
    """

    def __init__(
        self,
        backbone,
        tasks=(),
        init_weights=(1.0, 0.0),
        window=3,
        searched_blocks=None,
        weight_gates="relaxed_bernoulli",
        arch_gates="sigmoid",
        eval_gates="hard",
        alpha_init=0.0,
        temperature=1.0,
        entropy_weight=10.0,
        train_architecture=True,
        architecture=None,
        fusion_group="fusion",
        arch_group="arch",
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        fusion="nddr",
        kernel_initializer="he_normal",
        l1_weight=0.0,
        l1_cost_weighted=False,
        branch_pretrained=None,
        **kwargs,
    ):
        super().__init__(tasks=tasks, **kwargs)
        if len(self.tasks) < 2:
            raise ValueError("MTLNAS needs at least two task names.")
        for mode in (weight_gates, arch_gates, eval_gates):
            check_gate_mode(mode)
        self.backbone = backbone
        self.init_weights = (
            None if init_weights is None else tuple(map(float, init_weights))
        )
        self.window = int(window)
        self.weight_gates = weight_gates
        self.arch_gates = arch_gates
        self.eval_gates = eval_gates
        self.alpha_init = float(alpha_init)
        self.initial_temperature = float(temperature)
        self.initial_entropy_weight = float(entropy_weight)
        self.train_architecture = bool(train_architecture)
        self.architecture_init = search_space.load_architecture(architecture)
        self.fusion_group = fusion_group
        self.arch_group = arch_group
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.fusion = fusion
        fusion_cls = branches_lib.fusion_class(fusion)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.initial_l1_weight = float(l1_weight)
        self.l1_cost_weighted = bool(l1_cost_weighted)
        self.branch_pretrained = branches_lib.check_pretrained(
            branch_pretrained, self.tasks
        )

        self.branches = branches_lib.make_branches(backbone, len(self.tasks))
        first = self.branches[0]
        self.num_blocks = len(first.blocks)
        stage_of = branches_lib.stage_of_blocks(first.stage_ends)
        if searched_blocks is None:
            last_stage = len(first.stage_ends) - 1
            searched_blocks = [
                i for i in range(self.num_blocks) if stage_of[i] < last_stage
            ]
        self.searched_blocks = tuple(int(i) for i in searched_blocks)
        # edges[t]: (target block i, source task s, source block j).
        self.edges = search_space.candidate_edges(
            len(self.tasks), self.searched_blocks, stage_of, self.window
        )
        if not self.edges[0]:
            raise ValueError("The search space has no candidate edge.")
        self.fusions = []
        for t in range(len(self.tasks)):
            for i in self.searched_blocks:
                k = sum(1 for e in self.edges[t] if e[0] == i)
                self.fusions.append(
                    fusion_cls(
                        1 + k,
                        init_weights=self.init_weights,
                        kernel_initializer=fresh_initializer(
                            self.kernel_initializer
                        ),
                        norm_momentum=norm_momentum,
                        norm_epsilon=norm_epsilon,
                        dtype=self.dtype_policy,
                        name=f"fusion_{self.tasks[t]}_{i}",
                    )
                )

    # ---------------------------------------------------------------- build
    def _fusion(self, task, block):
        return self.fusions[
            task * len(self.searched_blocks) + self.searched_blocks.index(block)
        ]

    def build(self, input_shape):
        pretrained = self.branch_pretrained or [None] * len(self.branches)
        shapes = [
            branches_lib.block_shapes(b, input_shape, path)
            for b, path in zip(self.branches, pretrained)
        ]
        # Cost of an edge: the width of its target block (mean 1).
        self.edge_costs = search_space.edge_costs(
            self.edges, shapes, self.l1_cost_weighted
        )
        for t, edges in enumerate(self.edges):
            for i in self.searched_blocks:
                fusion = self._fusion(t, i)
                if not fusion.built:
                    incoming = [shapes[s][j] for b, s, j in edges if b == i]
                    fusion.build([shapes[t][i]] + incoming)
        self._build_architecture()
        self.built = True

    # ----------------------------------------------------------------- call
    def call(self, images, tasks=None, training=None, plan=None):
        architecture_step = plan is not None and self.arch_group in plan.groups
        gates = self.gates(bool(training), architecture_step)
        xs = [b.stem(images, training=training) for b in self.branches]
        searched = set(self.searched_blocks)
        pre = [dict() for _ in self.branches]
        for index in range(self.num_blocks):
            outs = [
                b.blocks[index](x, training=training)
                for b, x in zip(self.branches, xs)
            ]
            if index not in searched:
                xs = outs
                continue
            for t, y in enumerate(outs):
                pre[t][index] = y
            fused = []
            for t, y in enumerate(outs):
                inputs = [y]
                for n, (i, s, j) in enumerate(self.edges[t]):
                    if i == index:
                        gate = tf.cast(gates[t, n], pre[s][j].dtype)
                        inputs.append(gate * pre[s][j])
                fused.append(self._fusion(t, index)(inputs, training=training))
            xs = fused
        if training:
            self.add_loss(
                tf.convert_to_tensor(self.entropy_weight) * self.entropy()
            )
            self.add_loss(tf.convert_to_tensor(self.l1_weight) * self.l1())
        features = dict(zip(self.tasks, xs))
        return {t: features[t] for t in (tasks or self.tasks)}

    # ------------------------------------------------------- groups, export
    def fusion_variables(self):
        """Trainable variables of the fusion ops."""
        return [v for f in self.fusions for v in f.trainable_variables]

    def shared_variables(self):
        """Network variables (backbones and fusion ops), without `alpha`."""
        return [v for v in self.trainable_variables if v is not self.alpha]

    def variable_groups(self):
        fusion = self.fusion_variables()
        arch = [self.alpha] if self.train_architecture else []
        ids = {id(v) for v in fusion + arch}
        weights = [v for v in self.trainable_variables if id(v) not in ids]
        groups = {"weights": weights}
        groups.setdefault(self.fusion_group, []).extend(fusion)
        groups.setdefault(self.arch_group, []).extend(arch)
        return groups

    def config_backbone(self):
        # Every branch is a copy of the backbone; the config stores one.
        return self.branches[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_weights": (
                    None
                    if self.init_weights is None
                    else list(self.init_weights)
                ),
                "window": self.window,
                "searched_blocks": list(self.searched_blocks),
                "weight_gates": self.weight_gates,
                "arch_gates": self.arch_gates,
                "eval_gates": self.eval_gates,
                "alpha_init": self.alpha_init,
                "temperature": self.initial_temperature,
                "entropy_weight": self.initial_entropy_weight,
                "train_architecture": self.train_architecture,
                "architecture": self.architecture_init,
                "fusion_group": self.fusion_group,
                "arch_group": self.arch_group,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "fusion": self.fusion,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "l1_weight": self.initial_l1_weight,
                "l1_cost_weighted": self.l1_cost_weighted,
                "branch_pretrained": (
                    None
                    if self.branch_pretrained is None
                    else list(self.branch_pretrained)
                ),
            }
        )
        return config
