"""The per-task decoder of TAG's Taskonomy experiments.

Reference: `Decoder(output_channels, small_decoder=True)` of
`model_definitions/xception_taskonomy_new.py` in
github.com/tstandley/taskgrouping (used unchanged by google-research
`tag/taskonomy/xception_taskonomy_new.patch`).
"""

import keras

_WIDTHS = (128, 64, 48, 32)


@keras.saving.register_keras_serializable(package="tfmtl")
class TaskonomyDecoder(keras.layers.Layer):
    """Four 2x2/2 transposed convolutions up to the input resolution.

    Each stage is ConvTranspose(2, 2) + BatchNorm + ReLU; the first three
    are followed by a 3x3 convolution + BatchNorm + ReLU; a last 3x3
    convolution gives `num_outputs` channels (no activation). Widths 128,
    64, 48, 32 (the reference's `small_decoder`); upsampling x16.

    Args:
        num_outputs: output channels (the reference: segment_semantic 18,
            depth_zbuffer 1, normal 3, keypoints2d 1, edge_texture 1).
        widths: the four stage widths.
        **kwargs: base layer arguments.

    Call arguments:
        features: float tensor [B, h, w, C] (the shared representation).
        training: bool, BatchNorm mode.

    Example:

    >>> head = TaskonomyDecoder(num_outputs=3, widths=(8, 8, 8, 8))
    >>> head(keras.ops.ones((1, 2, 2, 16))).shape
    TensorShape([1, 32, 32, 3])

    Reference:
        - [Standley et al., 2020](https://arxiv.org/abs/1905.07553)
    """

    def __init__(self, num_outputs, widths=_WIDTHS, **kwargs):
        super().__init__(**kwargs)
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or int(num_outputs) < 1:
            raise ValueError(
                f"need 4 widths and num_outputs >= 1, not {widths}, "
                f"{num_outputs}"
            )
        self.num_outputs, self.widths = int(num_outputs), widths
        layers = []
        for i, width in enumerate(widths):
            layers += [
                keras.layers.Conv2DTranspose(width, 2, 2),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
            ]
            if i < 3:
                layers += [
                    keras.layers.Conv2D(width, 3, padding="same"),
                    keras.layers.BatchNormalization(),
                    keras.layers.ReLU(),
                ]
        layers.append(keras.layers.Conv2D(self.num_outputs, 3, padding="same"))
        self.network = keras.Sequential(layers, name="decoder")

    def build(self, input_shape):
        self.network.build(tuple(input_shape))
        self.built = True

    def call(self, features, training=None):
        return self.network(features, training=training)

    def compute_output_shape(self, input_shape):
        b, h, w = tuple(input_shape)[:3]
        up = [None if d is None else d * 16 for d in (h, w)]
        return (b, *up, self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_outputs": self.num_outputs, "widths": list(self.widths)}
        )
        return config
