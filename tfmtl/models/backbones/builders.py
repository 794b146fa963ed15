"""Builds the swappable convolution and normalisation layers of a backbone.

Backbones take `conv` and `norm` arguments so that methods can substitute
their own layers (TAPS gated convolutions, feature-partitioning masked
convolutions, per-task normalisation). Each argument is a Keras layer class or
the name it is registered under; configs store the name, so a custom class
must be registered with `keras.saving.register_keras_serializable`.
"""

import keras


def resolve_layer_class(spec):
    """Returns the layer class named by `spec`.

    Args:
        spec: a `keras.layers.Layer` subclass, a name registered with
            `keras.saving.register_keras_serializable` (e.g.
            `"tfmtl>MaskedConv2D"`) or the name of a built-in Keras layer
            (e.g. `"Conv2D"`).

    Returns:
        The layer class.

    Raises:
        ValueError: when `spec` names no known layer class.
    """
    if isinstance(spec, type):
        return spec
    cls = keras.saving.get_registered_object(spec)
    if cls is None:
        cls = getattr(keras.layers, spec, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ValueError(f"Unknown layer class: {spec!r}.")
    return cls


def layer_class_name(cls):
    """Returns a name that `resolve_layer_class` maps back to `cls`.

    Raises:
        ValueError: when `cls` is neither a built-in Keras layer nor
            registered with `keras.saving.register_keras_serializable`.
    """
    name = keras.saving.get_registered_name(cls)
    try:
        resolved = resolve_layer_class(name)
    except ValueError:
        resolved = None
    if resolved is not cls:
        raise ValueError(
            f"Layer class {cls!r} cannot be serialised by name; register it "
            "with keras.saving.register_keras_serializable."
        )
    return name


def set_slots(layer, conv, norm, kernel_initializer):
    """Stores a backbone's layer slots on `layer`, resolved.

    Sets `layer.conv` and `layer.norm` to the layer classes (see
    `resolve_layer_class`) and `layer.kernel_initializer` to the Keras
    initializer; `slot_config` writes them back into a config.

    Args:
        layer: the backbone (or block) being constructed.
        conv: convolution layer class or registered name.
        norm: normalisation layer class or registered name.
        kernel_initializer: initializer (or its name) of the convolutions.
    """
    layer.conv = resolve_layer_class(conv)
    layer.norm = resolve_layer_class(norm)
    layer.kernel_initializer = keras.initializers.get(kernel_initializer)


def fresh_initializer(initializer):
    """The initializer to give one more layer: a copy when it is unseeded.

    Keras draws an unseeded random initializer from one seed fixed when it
    is made, so a single instance shared by several layers gives every
    same-shaped kernel the same values (all four 3x3x64x64 kernels of a
    ResNet-18 were identical). An unseeded one is therefore copied from its
    config, which draws a new seed. A seeded one (an int: reproducible on
    purpose; a `SeedGenerator`: it advances on each call) and a constant
    initializer are returned as they are.

    Args:
        initializer: a Keras initializer instance.

    Returns:
        An initializer for one layer.
    """
    config = initializer.get_config()
    if "seed" in config and config["seed"] is None:
        return initializer.__class__.from_config(config)
    return initializer


def slot_config(layer):
    """The config entries of a backbone's slots and norm settings.

    Args:
        layer: a layer with the slots of `set_slots` and the attributes
            `norm_synchronized`, `norm_momentum` and `norm_epsilon`.

    Returns:
        Dict with `conv` and `norm` (registered names), the three norm
        settings and `kernel_initializer` (serialised).
    """
    return {
        "conv": layer_class_name(layer.conv),
        "norm": layer_class_name(layer.norm),
        "norm_synchronized": layer.norm_synchronized,
        "norm_momentum": layer.norm_momentum,
        "norm_epsilon": layer.norm_epsilon,
        "kernel_initializer": keras.initializers.serialize(
            layer.kernel_initializer
        ),
    }


def make_conv(
    conv,
    filters,
    kernel_size,
    strides=1,
    dilation_rate=1,
    use_bias=False,
    kernel_initializer="he_normal",
    dtype=None,
    name=None,
):
    """Returns `[padding, convolution]` layers with PyTorch-style padding.

    Stride-1 convolutions use `"same"` padding, which is symmetric for odd
    kernels. Strided convolutions pad `dilation * (kernel - 1) // 2` pixels on
    every side and then use `"valid"` padding, so the sampled pixels are the
    same as in torchvision (Keras `"same"` pads only at the bottom/right).
    """
    layers = []
    padding = "same"
    if strides > 1:
        pad = dilation_rate * (kernel_size - 1) // 2
        if pad:
            layers.append(
                keras.layers.ZeroPadding2D(
                    pad,
                    dtype=dtype,
                    name=None if name is None else name + "_pad",
                )
            )
        padding = "valid"
    layers.append(
        conv(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer=fresh_initializer(
                keras.initializers.get(kernel_initializer)
            ),
            dtype=dtype,
            name=name,
        )
    )
    return layers


def make_norm(norm, synchronized, momentum, epsilon, dtype=None, name=None):
    """Returns one normalisation layer built from the class `norm`.

    `synchronized=True` is forwarded only when requested, so custom
    normalisation classes without that argument work in the default case.
    """
    kwargs = {"momentum": momentum, "epsilon": epsilon}
    if synchronized:
        kwargs["synchronized"] = True
    return norm(dtype=dtype, name=name, **kwargs)


def apply_layers(layers, x, training=None):
    """Applies `layers` in order, passing `training` to each."""
    for layer in layers:
        x = layer(x, training=training)
    return x


def build_layers(layers, input_shape):
    """Builds `layers` in order from `input_shape`; returns the output shape."""
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def free_spatial(input_shape):
    """Returns `input_shape` with the spatial dimensions set to `None`."""
    shape = tuple(input_shape)
    return (shape[0],) + (None,) * (len(shape) - 2) + (shape[-1],)
