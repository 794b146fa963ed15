"""Small known-good problems for tests, benchmarks and examples."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes
from tfmtl.metrics import accumulate
from tfmtl.models.backbones import ResNet
from tfmtl.sharing import HardSharing

TINY_TASKS = ("segmentation", "depth", "attr_a0")


def tiny_problem(
    tasks=TINY_TASKS,
    image_size=16,
    widths=(8, 8, 16, 16),
    global_batch_size=8,
    learning_rate=0.05,
    sync_batch_norm=False,
    num_train=64,
    num_validation=16,
    norm="BatchNormalization",
):
    """Keyword arguments for `Controller` / `experiment.run`: a tiny run.

    A ResNet-18 with narrow stages on 16x16 synthetic scenes: a few steps
    take well under a second on a CPU.

    Args:
        tasks: Task names of `SyntheticScenes`.
        image_size: Image side.
        widths: ResNet stage widths.
        global_batch_size: Training batch over all replicas.
        learning_rate: SGD learning rate (momentum 0.9).
        sync_batch_norm: Synchronise batch statistics across replicas.
        num_train: Training examples.
        num_validation: Validation examples.
        norm: Normalisation layer class (or registered name) of the backbone.

    Returns:
        Dict with `tasks`, `sharing`, `optimizers`, `train_data`,
        `global_batch_size`.
    """
    source = SyntheticScenes(
        image_size=image_size,
        num_train=num_train,
        num_validation=num_validation,
        num_test=num_validation,
    )

    def sharing():
        return HardSharing(
            ResNet(
                depth=18,
                stem="small",
                widths=widths,
                norm=norm,
                norm_synchronized=sync_batch_norm,
            ),
            tasks=tasks,
        )

    def optimizer():
        return keras.optimizers.SGD(learning_rate, momentum=0.9)

    return {
        "tasks": tasks_lib.tasks_for(source, tasks),
        "sharing": sharing,
        "optimizers": {"weights": optimizer},
        "train_data": source,
        "global_batch_size": global_batch_size,
    }


@keras.saving.register_keras_serializable(package="tfmtl")
class TinyStagedBackbone(keras.layers.Layer):
    """Three stages (2 + 2 + 1 conv blocks): a fast stage-wise backbone.

    Exposes the backbone contract that stage-wise sharing modules (NDDR,
    MTL-NAS) read: an identity `stem`, `blocks` and `stage_ends`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = keras.layers.Identity()
        self.blocks = [
            keras.Sequential(
                [
                    keras.layers.Conv2D(w, 3, strides=s, padding="same"),
                    keras.layers.BatchNormalization(),
                    keras.layers.ReLU(),
                ]
            )
            for w, s in ((4, 1), (4, 1), (8, 2), (8, 1), (8, 1))
        ]
        self.stage_ends = [1, 3, 4]


def replica_statistics(strategy, metric, dataset):
    """Totals of `metric.statistics` computed replica by replica.

    Distributes `dataset` (of `(labels, predictions)` batches) over
    `strategy`, runs the statistics on every replica and sums the per-replica
    results, as an evaluation does; compare with one device's totals.

    Args:
        strategy: a `tf.distribute` strategy.
        metric: a `tfmtl.metrics.Metric`.
        dataset: a batched `tf.data.Dataset` of `(labels, predictions)`.

    Returns:
        `{name: numpy total}`.
    """
    dist = strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def step(batch):
        return strategy.run(metric.statistics, args=batch)

    totals = {}
    for batch in dist:
        for name, value in step(batch).items():
            for local in strategy.experimental_local_results(value):
                accumulate(totals, {name: local})
    return totals


def write_nyuv2_layout(root, examples, splits):
    """Writes examples as files in AdaShare's formatted NYUv2 layout.

    Example `i` becomes `img/000i.png`, `seg/000i.png`,
    `normal_mask/000i.png` and `depth/000i.npy` under `root`, listed in
    `root/nyu_v2_3task.json` (what `tfmtl.data.nyuv2.NYUv2` reads).

    Args:
        root: directory (str or path); created if needed.
        examples: sequence of dicts with uint8 `img` [H, W, 3], uint8 `seg`
            [H, W, 1], uint8 `normal_mask` [H, W, 3] and float32 `depth`
            [H, W].
        splits: `{split: (start, stop)}`, index ranges of `examples`.

    Returns:
        `root`.
    """
    entries = []
    for i, arrays in enumerate(examples):
        row = []
        for folder in ("img", "seg", "normal_mask", "depth"):
            ext = "npy" if folder == "depth" else "png"
            relative = f"{folder}/{i:04d}.{ext}"
            path = os.path.join(os.fspath(root), relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if folder == "depth":
                np.save(path, np.asarray(arrays[folder], np.float32))
            else:
                tf.io.write_file(path, tf.io.encode_png(arrays[folder]))
            row.append(relative)
        entries.append(row)
    index = {name: entries[a:b] for name, (a, b) in splits.items()}
    with open(os.path.join(os.fspath(root), "nyu_v2_3task.json"), "w") as f:
        json.dump(index, f)
    return root


def _as_tuple(inputs):
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _assert_outputs_close(actual, expected, rtol, atol, what):
    keras.tree.assert_same_structure(actual, expected)
    for a, e in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(e), rtol=rtol, atol=atol, err_msg=what
        )


def run_layer_test(
    layer_factory,
    inputs,
    call_kwargs=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    batch_dim=True,
    run_saving=True,
    tmp_dir=None,
    rtol=1e-5,
    atol=1e-5,
):
    """Checks the serialisation and calling contract of a layer.

    Builds `layer_factory()` by an eager call (``training=False``) on
    `inputs`, then checks, in order: the expected weight counts; that
    `get_config` is JSON-serialisable and `from_config` gives a layer with the
    same config and (with the same weights) the same outputs; that a fresh
    layer called on `keras.Input`s gives outputs of the eager shapes; and
    that a functional model around the layer survives a `.keras` save and
    load with equal outputs.

    Args:
        layer_factory: zero-argument callable returning a new layer.
        inputs: an array or a tuple of arrays, passed positionally.
        call_kwargs: other call arguments (not tensors), e.g. ``tasks``.
        expected_num_trainable_weights: number of trainable variables, or
            None to skip the check.
        expected_num_non_trainable_weights: number of non-trainable
            variables, or None to skip the check.
        batch_dim: True if the first axis of every input is a batch axis
            (left unknown in the symbolic call); False for inputs such as
            the per-task losses [K] of a weighting.
        run_saving: whether to run the `.keras` round trip.
        tmp_dir: directory for the `.keras` file (default: a temporary one).
        rtol: relative tolerance of the output comparisons.
        atol: absolute tolerance of the output comparisons.

    Returns:
        The layer built by the eager call.

    Example:
    ```python
    run_layer_test(
        lambda: DenseHead(3, hidden_channels=4),
        np.zeros((2, 8, 8, 5), "float32"),
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=2,
    )
    ```
    """
    import tempfile

    inputs = tuple(tf.convert_to_tensor(x) for x in _as_tuple(inputs))
    kwargs = dict(call_kwargs or {}, training=False)

    layer = layer_factory()
    expected = layer(*inputs, **kwargs)
    name = type(layer).__name__
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == (
            expected_num_trainable_weights
        ), f"{name}: {len(layer.trainable_weights)} trainable weights"
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == (
            expected_num_non_trainable_weights
        ), f"{name}: {len(layer.non_trainable_weights)} non-trainable weights"

    # get_config / from_config.
    config = layer.get_config()
    json.dumps(keras.saving.serialize_keras_object(layer))
    clone = type(layer).from_config(config)
    clone(*inputs, **kwargs)
    clone.set_weights(layer.get_weights())
    _assert_outputs_close(
        clone(*inputs, **kwargs), expected, rtol, atol, f"{name} from_config"
    )
    assert clone.get_config() == config, f"{name}: config changed"

    # Symbolic call on a fresh layer.
    def symbolic_inputs():
        if batch_dim:
            return tuple(
                keras.Input(shape=x.shape[1:], dtype=x.dtype) for x in inputs
            )
        return tuple(
            keras.Input(batch_shape=x.shape, dtype=x.dtype) for x in inputs
        )

    symbolic = layer_factory()(*symbolic_inputs(), **kwargs)
    keras.tree.assert_same_structure(symbolic, expected)
    for s, e in zip(keras.tree.flatten(symbolic), keras.tree.flatten(expected)):
        start = 1 if batch_dim else 0
        assert tuple(s.shape)[start:] == tuple(e.shape)[start:], (
            f"{name}: symbolic shape {s.shape}, eager {e.shape}"
        )

    # .keras save and load of a functional model around the built layer.
    if run_saving:
        held = symbolic_inputs()
        model = keras.Model(list(held), layer(*held, **kwargs))
        with tempfile.TemporaryDirectory(dir=tmp_dir) as directory:
            path = os.path.join(directory, "layer.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        _assert_outputs_close(
            loaded(list(inputs), training=False),
            expected,
            rtol,
            atol,
            f"{name} .keras",
        )
    return layer
