"""Feature partitioning: tasks share a trunk whose channels they partition."""

import keras
import tensorflow as tf

from tfmtl.methods.feature_partitioning.partitioned_resnet import (
    PartitionedResNet,
)
from tfmtl.methods.feature_partitioning.pretrained import (
    check_trunk_path,
    load_trunk,
)
from tfmtl.methods.feature_partitioning.unique_partitions import (
    get_partitions,
    unique_groups,
)
from tfmtl.sharing.sharing import Sharing


@keras.saving.register_keras_serializable(package="tfmtl")
class FeaturePartitioning(Sharing):
    """A `PartitionedResNet` shared by all tasks through channel masks.

    The partition (`Partition`) is turned into binary forward and backward
    masks once, when the layer is built; they are stored as non-trainable
    weights of the masked convolutions and therefore checkpointed (a
    restored run keeps its masks). `call` runs the trunk once per requested
    task with that task's index, masks and norms; with one task per training
    step (`AccuracySampledTask`) the trunk runs once per step.

    Variables are grouped per task: group `"<group>/<task>"` holds the
    trainable convolutions and task t's own norms, and `MultiTaskModel` adds
    head t, so one optimizer per task (see `per_task_optimizers`) keeps
    per-task momentum, as in the reference.

    Args:
        tasks: Task names, in the order of the partition's rows.
        partition: A `Partition`, a preset name, a dict or a JSON file path
            (see `Partition.get`); or a list of `num_unique` of these, one
            per contiguous run of trunk convolutions, shallowest first (the
            reference's `--num_unique`; see `unique_groups`).
        widths: Stem and stage widths of the trunk.
        blocks_per_stage: Blocks per stage.
        freeze_prefix: Freeze all convolutions before the last stage (the
            reference's "last third only"; their per-task norms train).
        pretrained: Optional trunk to start from: a `.keras` export or a
            `tfmtl.train` checkpoint / model directory of a feature-
            partitioning run (see `pretrained.load_trunk`); loaded when the
            layer is built, so a restored checkpoint still wins. Nothing is
            downloaded.
        pretrained_tasks: Number of tasks of the run a pretrained
            checkpoint comes from (1 for a single-task run).
        pretrained_task: Which of its tasks' norms every task receives.
        mask_seed: Seed of the mask solver.
        solver_iterations: Draws per task in the mask solver.
        group: Prefix of the variable groups.
        norm_momentum: Moving-average momentum of the per-task norms.
        **kwargs: Forwarded to `Sharing`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names (default: all).
        training: Python bool.

    Example:
    >>> fp = FeaturePartitioning(("a", "b"), "independent",
    ...                          widths=(8, 8, 16), blocks_per_stage=1)
    >>> out = fp(keras.ops.zeros((1, 8, 8, 3)))
    >>> sorted(out), tuple(out["a"].shape)
    (['a', 'b'], (1, 2, 2, 16))

    Reference:
        Newell et al., "Feature Partitioning for Efficient Multi-Task
        Architectures", arXiv:1908.04339.
    """

    def __init__(
        self,
        tasks=(),
        partition="share_all",
        widths=(32, 64, 128, 256),
        blocks_per_stage=4,
        freeze_prefix=False,
        mask_seed=0,
        solver_iterations=100,
        group="weights",
        norm_momentum=0.9,
        pretrained=None,
        pretrained_tasks=1,
        pretrained_task=0,
        **kwargs,
    ):
        super().__init__(tasks=tasks, **kwargs)
        if not self.tasks:
            raise ValueError("FeaturePartitioning needs its task names.")
        self.partitions = get_partitions(partition, len(self.tasks))
        self.widths = tuple(widths)
        self.blocks_per_stage = blocks_per_stage
        self.freeze_prefix = freeze_prefix
        self.mask_seed = mask_seed
        self.solver_iterations = solver_iterations
        self.group = group
        self.norm_momentum = norm_momentum
        self.pretrained = None if pretrained is None else str(pretrained)
        if self.pretrained:
            check_trunk_path(self.pretrained)  # fail before building
        self.pretrained_tasks = int(pretrained_tasks)
        self.pretrained_task = int(pretrained_task)
        self.backbone = PartitionedResNet(
            len(self.tasks),
            widths=self.widths,
            blocks_per_stage=blocks_per_stage,
            freeze_prefix=freeze_prefix,
            norm_momentum=norm_momentum,
            dtype=self.dtype_policy,
            name="trunk",
        )
        # Masks are the initial values of the mask weights.
        self.apply_partition(self.partitions)

    def build(self, input_shape):
        self.backbone.build(input_shape)
        self._input_shape = tuple(input_shape)
        self._pretrained_pending = bool(self.pretrained)
        self.load_pretrained()
        self.built = True

    def load_pretrained(self):
        """Loads `pretrained` into the trunk, once, outside symbolic builds.

        Keras builds a model by tracing its call in a stateless scope, where
        assignments are discarded; the load then waits for the first real
        call (the `Controller` makes one right after building).
        """
        # compat: Keras exposes no public test for its stateless scope.
        from keras.src.backend import in_stateless_scope

        if not getattr(self, "_pretrained_pending", False):
            return
        if in_stateless_scope():
            return
        # A traced call must read and assign values eagerly.
        with tf.init_scope():
            load_trunk(
                self.backbone,
                self.pretrained,
                self._input_shape,
                source_tasks=self.pretrained_tasks,
                source_task=self.pretrained_task,
            )
        self._pretrained_pending = False

    @property
    def partition(self):
        """The partition (the first one when `num_unique` > 1)."""
        return self.partitions[0]

    @property
    def num_unique(self):
        """Number of partitions along the depth of the trunk."""
        return len(self.partitions)

    def apply_partition(self, partition):
        """Solves `partition` for masks and assigns them to every layer.

        `partition` is one partition or a list of `num_unique` (see
        `unique_partitions.get_partitions`). As the reference
        (`meta/param/partition.py::prepare_masks`): the masks are solved
        once per partition and width, so every masked convolution of one
        width in one group gets the same masks.
        """
        self.partitions = get_partitions(partition, len(self.tasks))
        convs = self.backbone.convs()
        groups = unique_groups(len(convs), self.num_unique)
        masked = {id(conv) for conv in self.backbone.masked_convs()}
        solved = {}
        for conv, group in zip(convs, groups, strict=True):
            if id(conv) not in masked:
                continue
            key = (group, conv.filters)
            if key not in solved:
                # Group 0 keeps the single-partition seed.
                seed = self.mask_seed if group == 0 else [self.mask_seed, group]
                solved[key] = self.partitions[group].masks(
                    conv.filters, seed, self.solver_iterations
                )
            conv.set_masks(*solved[key])

    def task_index(self, task):
        """Row of `task` in the partition."""
        return self.tasks.index(task)

    def call(self, images, tasks=None, training=None):
        self.load_pretrained()
        return {
            task: self.backbone(
                images, task=self.task_index(task), training=training
            )
            for task in (tasks or self.tasks)
        }

    def shared_variables(self):
        return [
            v
            for conv in self.backbone.masked_convs()
            for v in conv.trainable_variables
        ]

    def task_variables(self, task):
        """Trainable variables a step of `task` may update."""
        index = self.task_index(task)
        norms = self.backbone.task_norms()
        norm_ids = {id(v) for n in norms for v in n.trainable_variables}
        own = [v for n in norms for v in n.norms[index].trainable_variables]
        rest = [
            v
            for v in self.backbone.trainable_variables
            if id(v) not in norm_ids
        ]
        return rest + own

    def variable_groups(self):
        return {
            f"{self.group}/{task}": self.task_variables(task)
            for task in self.tasks
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "partition": (
                    self.partition.get_config()
                    if self.num_unique == 1
                    else [p.get_config() for p in self.partitions]
                ),
                "widths": list(self.widths),
                "blocks_per_stage": self.blocks_per_stage,
                "freeze_prefix": self.freeze_prefix,
                "mask_seed": self.mask_seed,
                "solver_iterations": self.solver_iterations,
                "group": self.group,
                "norm_momentum": self.norm_momentum,
            }
        )
        # The pretrained file only initialises a fresh trunk; a saved model
        # carries its own weights (and must load where that file is gone).
        return config
