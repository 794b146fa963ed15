"""Test set-up shared by every test module.

Tests marked `large` (end-to-end runs, multi-process jobs, long searches)
are skipped unless pytest is given `--run_large`; `bash scripts/test.sh`
runs the fast tier and then the large one.

Two logical CPU devices are configured before TensorFlow runs any op, so the
MirroredStrategy tests can compare one and two replicas in one process (the
device layout cannot be changed once TensorFlow has initialised).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)


def pytest_addoption(parser):
    parser.addoption(
        "--run_large",
        action="store_true",
        default=False,
        help="also run the tests marked large (end-to-end, multi-process)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "large: end-to-end, multi-process or long tests; skipped unless "
        "--run_large is given",
    )
    config.addinivalue_line(
        "markers",
        "interop: compares with PyTorch run by $TFMTL_TORCH_PYTHON; skipped "
        "when it is unset",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip = pytest.mark.skip(
        reason="large test: run with --run_large (bash scripts/test.sh "
        "runs both tiers; only these: pytest --run_large -m large)"
    )
    for item in items:
        if item.get_closest_marker("large") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _reset_global_state():
    """Keeps the environment (TF_CONFIG, AIP_*), the mixed-precision policy
    and Keras names from leaking from one test into the next."""
    environ = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(environ)
    keras.mixed_precision.set_global_policy("float32")
    # No gc.collect() per test (clear_session's default): a full collection
    # walks the whole heap of the worker, TensorFlow's graphs included, and
    # cost up to 16 s per test, 468 s over a 2-worker run (the AdaShare
    # Taskonomy config test's teardown took 42 s of it). Python's own
    # generational collector still frees the cycles.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def mirrored_strategy():
    """The one two-replica MirroredStrategy of a test process.

    TensorFlow's collective instance keys collide when several
    MirroredStrategy objects run collectives of different shapes in one
    process, so tests share this one.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture
def run_gin_experiment(monkeypatch):
    """Runs `tfmtl.experiment.run` in-process on gin files.

    Returns a function `run(files, bindings, mode="train")` giving the
    run's results and the Controllers it built; gin's global config is
    cleared before and after, and files are found from the repository root.
    """
    import functools

    import gin

    from tfmtl import experiment

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(files, bindings=(), mode="train"):
        built = []

        build = experiment.build_controller

        # wraps: experiment.run checks the run's parts against the
        # signature of build_controller, which inspect reads through it.
        @functools.wraps(build)
        def recording(**kwargs):
            built.append(build(**kwargs))
            return built[-1]

        monkeypatch.setattr(experiment, "build_controller", recording)
        gin.clear_config()
        gin.add_config_file_search_path(root)
        try:
            gin.parse_config_files_and_bindings(list(files), list(bindings))
            results = gin.get_configurable(experiment.run)(mode=mode)
        finally:
            gin.clear_config()
        return results, built

    return run
