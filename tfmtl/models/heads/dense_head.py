"""Dense-prediction head: 3x3 conv + norm + ReLU layers, then a 1x1 conv."""

import keras

from tfmtl.models.backbones.builders import fresh_initializer


@keras.saving.register_keras_serializable(package="tfmtl")
class DenseHead(keras.layers.Layer):
    """Predicts a `num_outputs`-channel map at the feature resolution.

    `num_layers` times a 3x3 convolution (no bias), batch norm and ReLU, then
    a 1x1 convolution (with bias) to `num_outputs` channels in float32.
    `dense` is True: `MultiTaskModel` resizes the output to the input size.

    Args:
        num_outputs: int, output channels (classes, 1 for depth, 3 for
            normals).
        hidden_channels: int, channels of the 3x3 convolutions.
        num_layers: int, number of 3x3 conv + norm + ReLU layers (0 gives a
            single 1x1 convolution).
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        features: float tensor [B, H, W, C].
        training: bool, training mode of the normalisation.

    Example:

    >>> head = DenseHead(3, hidden_channels=16)
    >>> head(keras.ops.ones((2, 8, 8, 32))).shape
    TensorShape([2, 8, 8, 3])
    """

    dense = True

    def __init__(
        self,
        num_outputs,
        hidden_channels=64,
        num_layers=1,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        dtype = self.dtype_policy
        self.hidden_layers = []
        for i in range(num_layers):
            self.hidden_layers += [
                keras.layers.Conv2D(
                    hidden_channels,
                    3,
                    padding="same",
                    use_bias=False,
                    kernel_initializer=fresh_initializer(
                        self.kernel_initializer
                    ),
                    dtype=dtype,
                    name=f"conv{i + 1}",
                ),
                keras.layers.BatchNormalization(dtype=dtype, name=f"bn{i + 1}"),
                keras.layers.ReLU(dtype=dtype),
            ]
        self.output_conv = keras.layers.Conv2D(
            num_outputs,
            1,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            dtype="float32",
            name="output_conv",
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.output_conv.build(shape)
        self.built = True

    def call(self, features, training=None):
        x = features
        for layer in self.hidden_layers:
            x = layer(x, training=training)
        return self.output_conv(x)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "hidden_channels": self.hidden_channels,
                "num_layers": self.num_layers,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
