"""Classification head: global pooling, optional hidden layers, logits."""

import keras

from tfmtl.models.backbones.builders import fresh_initializer


@keras.saving.register_keras_serializable(package="tfmtl")
class ClassifierHead(keras.layers.Layer):
    """Pools a feature map and predicts `num_outputs` logits.

    Features are average-pooled over space (`"avg"`), flattened
    (`"flatten"`) or used as they are (`None`, for already flat features),
    then go through `hidden_units` Dense + ReLU layers and a final Dense.
    Dropout is applied to the input of every Dense layer. The logits are
    float32 (the last layer has `dtype="float32"`), so losses stay in full
    precision under mixed precision.

    Args:
        num_outputs: int, number of logits.
        hidden_units: None, an int or a sequence of ints, the widths of the
            hidden Dense layers.
        dropout: float, dropout rate before every Dense layer.
        pooling: `"avg"`, `"flatten"` or None.
        kernel_initializer: initializer of the Dense kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        features: float tensor [B, H, W, C] (or [B, C] with `pooling=None`).
        training: bool, training mode of the dropout.

    Example:

    >>> head = ClassifierHead(10, hidden_units=32)
    >>> head(keras.ops.ones((2, 4, 4, 8))).shape
    TensorShape([2, 10])

    Reference:
        - [Fifty et al., 2021](https://arxiv.org/abs/2109.04617) (TAG heads)
    """

    dense = False

    def __init__(
        self,
        num_outputs,
        hidden_units=None,
        dropout=0.0,
        pooling="avg",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pooling not in ("avg", "flatten", None):
            raise ValueError(f"Unknown pooling {pooling!r}.")
        if hidden_units is None:
            hidden_units = ()
        elif isinstance(hidden_units, int):
            hidden_units = (hidden_units,)
        self.num_outputs = num_outputs
        self.hidden_units = tuple(hidden_units)
        self.dropout = dropout
        self.pooling = pooling
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        dtype = self.dtype_policy
        self.pool = None
        if pooling == "avg":
            self.pool = keras.layers.GlobalAveragePooling2D(dtype=dtype)
        elif pooling == "flatten":
            self.pool = keras.layers.Flatten(dtype=dtype)
        self.hidden_layers = [
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_initializer=fresh_initializer(self.kernel_initializer),
                dtype=dtype,
                name=f"hidden{i + 1}",
            )
            for i, units in enumerate(self.hidden_units)
        ]
        self.dropout_layers = [
            keras.layers.Dropout(dropout, dtype=dtype)
            for _ in range(len(self.hidden_units) + 1)
        ]
        self.logits = keras.layers.Dense(
            num_outputs,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            dtype="float32",
            name="logits",
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.pool is not None:
            self.pool.build(shape)
            shape = tuple(self.pool.compute_output_shape(shape))
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.logits.build(shape)
        self.built = True

    def call(self, features, training=None):
        x = features if self.pool is None else self.pool(features)
        for layer, drop in zip(self.hidden_layers, self.dropout_layers):
            x = layer(drop(x, training=training))
        return self.logits(self.dropout_layers[-1](x, training=training))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "hidden_units": list(self.hidden_units),
                "dropout": self.dropout,
                "pooling": self.pooling,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
