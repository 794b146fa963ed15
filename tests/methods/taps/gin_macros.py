"""Shared test helper: the value of one macro of a parsed gin config."""

import os

import gin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))


def _value(x):
    return x


gin.external_configurable(_value, "tests_gin_macros_value")


def macro_value(gin_file, bindings, macro):
    """Parses `gin_file` (relative to the repository) and evaluates `macro`.

    Binds `MODEL_DIR` to an unused path first, then `bindings`, and clears
    the gin config afterwards whatever happens.

    Args:
        gin_file: config path relative to the repository root.
        bindings: extra gin binding strings, e.g. `["DOMAIN = 'sketch'"]`.
        macro: macro name without `%`, e.g. `"WARMUP_STEPS"`.

    Returns:
        The macro's value, as the config's references build it.
    """
    gin.clear_config()
    gin.add_config_file_search_path(ROOT)
    try:
        gin.parse_config_files_and_bindings(
            [os.path.join(ROOT, gin_file)],
            [
                "MODEL_DIR = '/tmp/unused'",
                *bindings,
                f"tests_gin_macros_value.x = %{macro}",
            ],
        )
        return gin.get_configurable("tests_gin_macros_value")()
    finally:
        gin.clear_config()
