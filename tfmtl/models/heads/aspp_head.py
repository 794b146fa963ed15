"""DeepLab-v2 ASPP head: a sum of parallel dilated branches (as in AdaShare).

Reference: Chen et al., "DeepLab", TPAMI 2017; the per-task head of AdaShare
(Sun et al., NeurIPS 2020, `models/base.py`).
"""

import keras


def _copy(initializer):
    """Returns a new instance of `initializer` built from its config."""
    return initializer.__class__.from_config(initializer.get_config())


@keras.saving.register_keras_serializable(package="tfmtl")
class ASPPHead(keras.layers.Layer):
    """Atrous spatial pyramid pooling head (DeepLab-v2 flavour).

    One branch per rate: 3x3 convolution with that dilation to
    `hidden_channels` -> ReLU -> dropout -> 1x1 convolution to
    `hidden_channels` -> ReLU -> dropout -> 1x1 convolution to
    `num_outputs` (float32). The head returns the sum of the branches.
    `dense` is True: `MultiTaskModel` resizes the output to the input size.
    With 512 input channels and the defaults each branch has about 5.8M
    parameters (23M per head, more than a ResNet-34 trunk).

    Args:
        num_outputs: int, output channels.
        rates: sequence of ints, the dilation rate of each branch.
        hidden_channels: int, channels inside each branch.
        dropout: float, dropout rate after each hidden ReLU.
        kernel_initializer: initializer of the convolution kernels. Each
            convolution gets its own copy (from its config), so unseeded
            initializers give every branch its own weights.
        bias_initializer: initializer of the convolution biases; one with a
            `with_fan_in` method (e.g. `TorchDefault`) is given the fan-in
            of each convolution when the head is built.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        features: float tensor [B, H, W, C].
        training: bool, training mode of the dropout.

    Example:

    >>> head = ASPPHead(13, rates=(1, 2), hidden_channels=16)
    >>> head(keras.ops.ones((2, 8, 8, 32))).shape
    TensorShape([2, 8, 8, 13])

    Reference:
        - [Chen et al., 2017](https://arxiv.org/abs/1606.00915)
        - [Sun et al., 2020](https://arxiv.org/abs/1911.12423)
    """

    dense = True

    def __init__(
        self,
        num_outputs,
        rates=(6, 12, 18, 24),
        hidden_channels=1024,
        dropout=0.5,
        # compat: AdaShare's heads (`Classification_Module`) keep PyTorch's
        # default init, TorchDefault() for kernel and bias; the AdaShare
        # configs set it.
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.rates = tuple(rates)
        self.hidden_channels = hidden_channels
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

        dtype = self.dtype_policy
        self.branches = []
        for rate in self.rates:

            def conv(filters, size, name, layer_dtype=dtype, rate=rate):
                return keras.layers.Conv2D(
                    filters,
                    size,
                    padding="same",
                    dilation_rate=rate if size > 1 else 1,
                    kernel_initializer=_copy(self.kernel_initializer),
                    bias_initializer=_copy(self.bias_initializer),
                    dtype=layer_dtype,
                    name=f"rate{rate}_{name}",
                )

            self.branches.append(
                [
                    conv(hidden_channels, 3, "conv1"),
                    keras.layers.ReLU(dtype=dtype),
                    keras.layers.Dropout(dropout, dtype=dtype),
                    conv(hidden_channels, 1, "conv2"),
                    keras.layers.ReLU(dtype=dtype),
                    keras.layers.Dropout(dropout, dtype=dtype),
                    conv(num_outputs, 1, "conv3", layer_dtype="float32"),
                ]
            )

    def build(self, input_shape):
        for branch in self.branches:
            shape = tuple(input_shape)
            for layer in branch:
                if isinstance(layer, keras.layers.Conv2D) and hasattr(
                    layer.bias_initializer, "with_fan_in"
                ):
                    fan_in = layer.kernel_size[0] * layer.kernel_size[1]
                    fan_in *= shape[-1]
                    layer.bias_initializer = layer.bias_initializer.with_fan_in(
                        fan_in
                    )
                layer.build(shape)
                shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def branch(self, index, features, training=None):
        """Returns the output of branch `index` (one term of the sum)."""
        x = features
        for layer in self.branches[index]:
            x = layer(x, training=training)
        return x

    def call(self, features, training=None):
        outputs = [
            self.branch(i, features, training) for i in range(len(self.rates))
        ]
        return keras.ops.sum(keras.ops.stack(outputs), axis=0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "rates": list(self.rates),
                "hidden_channels": self.hidden_channels,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config
