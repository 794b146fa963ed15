"""NDDR-CNN sharing: one backbone per task, NDDR layers after each stage."""

import keras
import tensorflow as tf

from tfmtl.methods.mtl_nas import branches as branches_lib
from tfmtl.methods.mtl_nas.nddr_layer import NDDRLayer
from tfmtl.models.backbones.builders import fresh_initializer
from tfmtl.sharing.backbone_sharing import BackboneSharing


@keras.saving.register_keras_serializable(package="tfmtl")
class NDDR(BackboneSharing):
    """T task-specific backbones fused by an `NDDRLayer` after each stage.

    Every task has its own copy of the backbone. After each fused block
    (by default the end of every stage but the last, i.e. pool1 ... pool5 of
    VGG-16 DeepLab-LargeFOV with `per_conv_blocks=False`, whose last stage
    is fc6/fc7), the T branch features are fused by an `NDDRLayer` and the
    fused features feed the next block of each branch. Task t's features
    are the output of branch t.

    The NDDR layers' variables form the optimizer group `fusion_group`
    (NDDR-CNN trains them with 100 times the base learning rate); the
    backbones form `"weights"`.

    With `shortcut` (NDDR-CNN-Shortcut), each task's fused outputs of all
    fusion points are resized bilinearly to the resolution of the last one,
    concatenated and reduced by a 1x1 convolution + BN + ReLU to the last
    fusion point's width before the remaining blocks (fc6 / fc7 of VGG-16
    LargeFOV: 64 + 128 + 256 + 512 + 512 = 1,472 -> 512 channels).

    Args:
        backbone: zero-argument backbone factory (called once per task) or
            a backbone layer (cloned from its config for the other tasks).
            The backbone must expose `stem`, `blocks` and `stage_ends`.
        tasks: task names, one branch each, in order.
        init_weights: `(w_self, w_other)` of the NDDR init, or None for a
            random init.
        fuse_after: block indices after which to fuse (default: every entry
            of `stage_ends` but the last).
        fusion_group: optimizer group of the NDDR variables ("weights"
            merges them with the backbones).
        norm_momentum: float, NDDR normalisation momentum (Keras
            convention).
        norm_epsilon: float, NDDR normalisation epsilon.
        fusion: `"nddr"` (1x1 conv + BN + ReLU) or `"cross_stitch"` (one
            scalar per task pair: the cross-stitch ablation).
        kernel_initializer: NDDR kernel init when `init_weights` is None
            (`"he_normal"`; `"glorot_uniform"` is NDDR-CNN's Xavier
            ablation).
        shortcut: bool, NDDR-CNN-Shortcut (see above).
        branch_pretrained: None, or one weights file (or None) per task
            loaded into that task's backbone when it is built (NDDR-CNN
            starts each branch from its single-task network); the backbone
            needs a `load_pretrained(path)` method (`VGG16`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        images: float tensor [B, H, W, 3].
        tasks: tuple of task names to return (every branch is computed).
        training: Python bool.

    Example:

    >>> from tfmtl.models.backbones import ResNet
    >>> sharing = NDDR(lambda: ResNet(18, stem="small",
    ...                               widths=(4, 4, 8, 8)), tasks=("a", "b"))
    >>> features = sharing(keras.ops.zeros((1, 16, 16, 3)))
    >>> features["b"].shape
    TensorShape([1, 2, 2, 8])

    Reference:
        [Gao et al., "NDDR-CNN: Layerwise Feature Fusing in Multi-Task CNNs
        by Neural Discriminative Dimensionality Reduction", CVPR 2019](
        https://arxiv.org/abs/1801.08297)
    """

    def __init__(
        self,
        backbone,
        tasks=(),
        init_weights=(0.9, 0.1),
        fuse_after=None,
        fusion_group="fusion",
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        fusion="nddr",
        kernel_initializer="he_normal",
        shortcut=False,
        branch_pretrained=None,
        **kwargs,
    ):
        super().__init__(tasks=tasks, **kwargs)
        if len(self.tasks) < 1:
            raise ValueError("NDDR needs the task names (one branch each).")
        self.backbone = backbone
        self.fusion = fusion
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.shortcut = bool(shortcut)
        self.branch_pretrained = branches_lib.check_pretrained(
            branch_pretrained, self.tasks
        )
        self.init_weights = (
            None if init_weights is None else tuple(map(float, init_weights))
        )
        self.fusion_group = fusion_group
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.branches = branches_lib.make_branches(backbone, len(self.tasks))
        stage_ends = list(self.branches[0].stage_ends)
        if fuse_after is None:
            fuse_after = stage_ends[:-1]
        self.fuse_after = tuple(int(i) for i in fuse_after)
        num_blocks = len(self.branches[0].blocks)
        bad = [i for i in self.fuse_after if not 0 <= i < num_blocks]
        if bad:
            raise ValueError(
                f"fuse_after {bad} out of range: the backbone has "
                f"{num_blocks} blocks."
            )
        self.nddr_layers = [
            NDDRLayer(
                len(self.tasks),
                init_weights=self.init_weights,
                norm_momentum=norm_momentum,
                norm_epsilon=norm_epsilon,
                fusion=fusion,
                kernel_initializer=fresh_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=f"nddr{n + 1}",
            )
            for n in range(len(self.fuse_after))
        ]
        self.shortcut_layers = []
        if self.shortcut:
            if not self.fuse_after:
                raise ValueError("shortcut needs at least one fusion point.")
            self.shortcut_layers = [
                keras.Sequential(
                    [
                        keras.layers.Conv2D(
                            1, 1, use_bias=False, dtype=self.dtype_policy
                        ),
                        keras.layers.BatchNormalization(
                            momentum=norm_momentum,
                            epsilon=norm_epsilon,
                            dtype=self.dtype_policy,
                        ),
                        keras.layers.ReLU(dtype=self.dtype_policy),
                    ],
                    name=f"shortcut_{task}",
                )
                for task in self.tasks
            ]

    def build(self, input_shape):
        pretrained = self.branch_pretrained or [None] * len(self.branches)
        shapes = [
            branches_lib.block_shapes(b, input_shape, path)
            for b, path in zip(self.branches, pretrained)
        ]
        for layer, block in zip(self.nddr_layers, self.fuse_after):
            if not layer.built:
                layer.build([s[block] for s in shapes])
        last = shapes[0][max(self.fuse_after)] if self.fuse_after else None
        for layer in self.shortcut_layers:
            if not layer.built:
                # The 1x1 convolution maps the concatenation to the last
                # fusion point's width.
                layer.layers[0].filters = last[-1]
                width = sum(shapes[0][i][-1] for i in self.fuse_after)
                layer.build((*last[:-1], width))
        self.built = True

    def _shortcut(self, fused, training):
        """NDDR-CNN-Shortcut: per task, all fused outputs reduced to one."""
        outs = []
        for t, layer in enumerate(self.shortcut_layers):
            maps = [f[t] for f in fused]
            size = tf.shape(maps[-1])[1:3]
            maps = [
                tf.cast(tf.image.resize(m, size, "bilinear"), m.dtype)
                for m in maps[:-1]
            ] + maps[-1:]
            outs.append(layer(tf.concat(maps, axis=-1), training=training))
        return outs

    def call(self, images, tasks=None, training=None):
        xs = [b.stem(images, training=training) for b in self.branches]
        fusion = dict(zip(self.fuse_after, self.nddr_layers))
        last, fused = max(self.fuse_after, default=-1), []
        for index in range(len(self.branches[0].blocks)):
            xs = [
                b.blocks[index](x, training=training)
                for b, x in zip(self.branches, xs)
            ]
            if index in fusion:
                xs = fusion[index](xs, training=training)
                fused.append(xs)
            if self.shortcut and index == last:
                xs = self._shortcut(fused, training)
        features = dict(zip(self.tasks, xs))
        return {t: features[t] for t in (tasks or self.tasks)}

    def fusion_variables(self):
        """Trainable variables of the NDDR layers."""
        return [
            v for layer in self.nddr_layers for v in layer.trainable_variables
        ]

    def variable_groups(self):
        fusion = self.fusion_variables()
        ids = {id(v) for v in fusion}
        weights = [v for v in self.trainable_variables if id(v) not in ids]
        if self.fusion_group == "weights":
            return {"weights": weights + fusion}
        return {"weights": weights, self.fusion_group: fusion}

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
                "fuse_after": list(self.fuse_after),
                "fusion_group": self.fusion_group,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "fusion": self.fusion,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "shortcut": self.shortcut,
                "branch_pretrained": (
                    None
                    if self.branch_pretrained is None
                    else list(self.branch_pretrained)
                ),
            }
        )
        return config
