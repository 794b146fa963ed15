"""The symmetric NDDR layer of NDDR-CNN: one fusion per task."""

import keras

from tfmtl.methods.mtl_nas import branches as branches_lib
from tfmtl.models.backbones.builders import fresh_initializer


@keras.saving.register_keras_serializable(package="tfmtl")
class NDDRLayer(keras.layers.Layer):
    """Neural discriminative dimensionality reduction over T task features.

    The T same-stage task features (C channels each, same size) are
    concatenated to `T * C` channels; task `t` gets `ReLU(BN_t(W_t * Z))`
    with its own 1x1 convolution `W_t` (no bias) back to C channels. `W_t`
    starts as `w_self * I` on task t's slice and `w_other / (T - 1) * I` on
    each other slice: `(0.9, 0.1)` for two tasks is NDDR-CNN's default and
    `(1, 0)` makes every task ignore the others at initialisation.

    Args:
        num_tasks: int, number of task branches T (>= 1).
        init_weights: `(w_self, w_other)`, or None for a random
            (`kernel_initializer`) init (the Xavier ablation of NDDR-CNN).
        kernel_initializer: initializer used when `init_weights` is None.
        norm_momentum: float, moving-average momentum (Keras convention).
        norm_epsilon: float, epsilon of the normalisation.
        fusion: `"nddr"` (1x1 conv + BN + ReLU, `NDDRFusion`) or
            `"cross_stitch"` (a scalar per task pair, `CrossStitchFusion`:
            the cross-stitch ablation).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list of T float tensors [B, H, W, C], one per task.
        training: bool, training mode of the normalisation.

    Returns:
        A list of T tensors [B, H, W, C], one per task.

    Example:

    >>> layer = NDDRLayer(2)
    >>> a, b = layer([keras.ops.ones((1, 4, 4, 8))] * 2)
    >>> b.shape
    TensorShape([1, 4, 4, 8])

    Reference:
        [Gao et al., "NDDR-CNN: Layerwise Feature Fusing in Multi-Task CNNs
        by Neural Discriminative Dimensionality Reduction", CVPR 2019](
        https://arxiv.org/abs/1801.08297)
    """

    def __init__(
        self,
        num_tasks,
        init_weights=(0.9, 0.1),
        kernel_initializer="he_normal",
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        fusion="nddr",
        **kwargs,
    ):
        super().__init__(**kwargs)
        fusion_cls = branches_lib.fusion_class(fusion)
        self.fusion = fusion
        self.num_tasks = int(num_tasks)
        self.init_weights = (
            None if init_weights is None else tuple(map(float, init_weights))
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.fusions = [
            fusion_cls(
                self.num_tasks,
                init_weights=self.init_weights,
                kernel_initializer=fresh_initializer(self.kernel_initializer),
                norm_momentum=norm_momentum,
                norm_epsilon=norm_epsilon,
                dtype=self.dtype_policy,
                name=f"fusion{t}",
            )
            for t in range(self.num_tasks)
        ]

    @staticmethod
    def _own_first(items, task):
        return [items[task]] + [x for s, x in enumerate(items) if s != task]

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        for t, fusion in enumerate(self.fusions):
            fusion.build(self._own_first(shapes, t))
        self.built = True

    def call(self, inputs, training=None):
        inputs = list(inputs)
        if len(inputs) != self.num_tasks:
            raise ValueError(
                f"NDDRLayer expects {self.num_tasks} inputs, got {len(inputs)}."
            )
        return [
            fusion(self._own_first(inputs, t), training=training)
            for t, fusion in enumerate(self.fusions)
        ]

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tasks": self.num_tasks,
                "init_weights": (
                    None
                    if self.init_weights is None
                    else list(self.init_weights)
                ),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "fusion": self.fusion,
            }
        )
        return config
