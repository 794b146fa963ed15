"""`tfmtl.config_check` and `tfmtl.gin_errors` on parsed configurations.

The shipped configurations and the documented commands must pass the
checks (the checks are strict: an unread command-line macro is an error).
"""

import glob
import os
import re

import gin
import pytest

import tfmtl.weighting  # noqa: F401 - the weighting check lists them.
from tfmtl import config_check, gin_errors
from tfmtl.config_check import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ROOT = os.path.abspath(ROOT)
GIN_FILES = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(f"{ROOT}/gin_configs/**/*.gin", recursive=True)
)


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    yield
    gin.clear_config()


def _parse(files, bindings=()):
    gin.parse_config_files_and_bindings(
        files, list(bindings), finalize_config=False
    )


def test_command_line_macros_read_through_other_macros_are_used():
    bindings = ["STEPS = 3", "TRAIN_STEPS = %STEPS", "LR = 0.1"]
    _parse(["gin_configs/smoke.gin"], bindings[:2])
    config_check.check_bindings(bindings[:2])
    assert {"STEPS", "TRAIN_STEPS", "WIDTHS"} <= config_check.used_macros()
    gin.clear_config()
    # Only read by another unread macro: unused.
    _parse(["gin_configs/smoke.gin"], ["A = 3", "B = %A"])
    with pytest.raises(ConfigError, match=r"^unknown macro A: no binding"):
        config_check.check_bindings(["A = 3", "B = %A"])
    with pytest.raises(ConfigError, match=r"^unknown macro B: no binding"):
        config_check.check_bindings(["A = 3", "B = %A"], allow_unused=["A"])
    config_check.check_bindings(["A = 3", "B = %A"], allow_unused=["A", "B"])


def test_unread_macro_of_a_gin_file_is_not_an_error():
    # gin files may define macros for parts they leave out (DATA_DIR...);
    # only the command line's macros are checked.
    _parse(["gin_configs/smoke.gin"], ["data.SyntheticScenes.num_train = 8"])
    config_check.check_bindings(["data.SyntheticScenes.num_train = 8"])
    config_check.check_values()


def test_closest_names():
    known = ["TRAIN_STEPS", "EVAL_STEPS", "EVAL_EVERY", "MODEL_DIR"]
    assert config_check.close_names("TRAIN_STEP", known) == ["TRAIN_STEPS"]
    assert config_check.close_names("model_dir", known) == ["MODEL_DIR"]
    assert config_check.close_names("SEED", known) == []


@pytest.mark.parametrize(
    "binding, message",
    [
        (
            "run.train_steps = 2.5",
            r"^experiment.run.train_steps must be a positive int, got 2.5",
        ),
        ("TRAIN_STEPS = True", r"^TRAIN_STEPS must be a positive int"),
        ("EVAL_EVERY = -1", r"^EVAL_EVERY must be a positive int"),
        ("EVAL_STEPS = '2'", r"got '2' \(str\); e.g. --gin.EVAL_STEPS=2$"),
        ("MODEL_DIR = ['/a']", r"^MODEL_DIR must be a path"),
        ("WEIGHTING = 'pcgrad'", r"e.g. WEIGHTING = @weighting.PCGrad in"),
        ("WEIGHTING = 'nope'", r"^WEIGHTING is the string 'nope', but"),
    ],
)
def test_bad_values(binding, message):
    _parse(["gin_configs/smoke.gin"], [binding])
    with pytest.raises(ConfigError, match=message):
        config_check.check_values()


def test_optional_values_may_be_none():
    _parse(
        ["gin_configs/smoke.gin"], ["EVAL_STEPS = None", "EVAL_EVERY = None"]
    )
    config_check.check_values()
    _parse(["gin_configs/smoke.gin"], ["TRAIN_STEPS = None"])
    with pytest.raises(ConfigError, match="got None"):
        config_check.check_values()


def test_every_shipped_config_passes_the_value_checks():
    for path in GIN_FILES:
        gin.clear_config()
        gin.add_config_file_search_path(ROOT)
        _parse([path])
        config_check.check_values()


def _documented_commands():
    texts = {}
    docs = glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True)
    for path in [*GIN_FILES, "README.md", *docs]:
        with open(os.path.join(ROOT, path)) as f:
            texts[path] = f.read()
    for source, text in sorted(texts.items()):
        joined = re.sub(r"\\\n\s*#?\s*", " ", text)
        for command in re.findall(r"(?:python -m tfmtl|tfmtl-)[^\n`]*", joined):
            files = re.findall(r"--gin_file=(\S+)", command)
            macros = re.findall(r"--gin\.([A-Za-z_]\w*)=", command)
            if files and macros:
                yield source, files, macros


def test_documented_commands_bind_only_macros_their_configs_read():
    commands = list(_documented_commands())
    assert len(commands) > 20
    for source, files, macros in commands:
        gin.clear_config()
        gin.add_config_file_search_path(ROOT)
        _parse(files)
        unread = set(macros) - config_check.used_macros()
        assert not unread, (source, files, unread)


@pytest.mark.parametrize(
    "value, fixed",
    [
        ("/tmp/x", "'/tmp/x'"),
        ("gs://bucket/run", "'gs://bucket/run'"),
        ("[a, b]", "['a', 'b']"),
        ("(a, 3, None)", "('a', 3, None)"),
        ("'quoted'", None),
        ("12", None),
    ],
)
def test_quoted(value, fixed):
    assert gin_errors._quoted(value) == fixed


def test_gin_syntax_error_in_a_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.gin"
    bad.write_text("TRAIN_STEPS = 3\nMODEL_DIR = /tmp/x\n")
    with pytest.raises(SyntaxError) as info:
        _parse([str(bad)])
    error = gin_errors.explain_syntax_error(info.value, [])
    assert str(error) == (
        f"gin syntax error in {bad}, line 2: 'MODEL_DIR = /tmp/x': Unable to "
        "parse value. (strings need quotes)"
    )


def test_unknown_configurable_gets_the_closest_name():
    _parse(["gin_configs/smoke.gin"])
    with pytest.raises(ValueError) as info:
        _parse([], ["data.SyntheticScene.num_train = 3"])
    assert str(gin_errors.explain_gin_error(info.value)) == (
        "unknown configurable data.SyntheticScene; did you mean "
        "data.SyntheticScenes?"
    )
    assert gin_errors.explain_gin_error(ValueError("other")) is None
