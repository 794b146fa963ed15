"""gin's parse errors as one line with the fix, for the command line.

`tfmtl.cli.parse_gin_flags` turns gin's `SyntaxError`s and its unknown-name
`ValueError`s into `tfmtl.config_check.ConfigError`s:

* an unquoted string, `--gin.MODEL_DIR=/tmp/x`: `strings need quotes:
  --gin.MODEL_DIR="'/tmp/x'"` (bare words in a list are quoted as well);
* `No configurable matching 'data.SyntheticScene'`: `unknown configurable
  data.SyntheticScene; did you mean data.SyntheticScenes?`;
* a parameter the configurable lacks: the closest parameter names.
"""

import inspect
import re

from gin import config as gin_config

from tfmtl.config_check import (
    ConfigError,
    close_names,
    command_line_macros,
    suggest,
)

_WORD = re.compile(r"[^\s,\[\](){}:]+")
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def explain_syntax_error(error, bindings):
    """A ConfigError for gin's SyntaxError in a file or a binding."""
    line = " ".join((error.text or "").split())
    macros = command_line_macros(bindings)
    for name, (text, value) in macros.items():
        if " ".join(text.split()) != line:
            continue
        fixed = _quoted(value.strip())
        if fixed is not None:
            return ConfigError(
                f"cannot parse {name} = {value}; strings need quotes: "
                f'--gin.{name}="{fixed}"'
            )
        return ConfigError(f"cannot parse {name} = {value}: {_msg(error)}")
    where = error.filename or "a --gin_bindings value"
    return ConfigError(
        f"gin syntax error in {where}, line {error.lineno}: {line!r}: "
        f"{_msg(error)} (strings need quotes)"
    )


def _msg(error):
    """gin's message without the repr of Python's AST nodes."""
    return re.sub(r" ?<ast\.\w+ object at 0x[0-9a-f]+>", "", error.msg or "")


def _quoted(value):
    """`value` with its bare words quoted, or None when it has quotes."""
    if not value or any(q in value for q in "'\"@%"):
        return None

    def quote(match):
        word = match.group(0)
        if word in ("True", "False", "None") or _NUMBER.match(word):
            return word
        return repr(word)

    if value[0] not in "[({":
        fixed = quote(re.match(r".*", value))
    else:
        fixed = _WORD.sub(quote, value)
    return None if fixed == value else fixed


def explain_gin_error(error):
    """`error` (gin's ValueError) with the closest names, or None."""
    text = str(error)
    match = re.search(
        r"No configurable matching (?:reference )?'@?([^']+)'", text
    )
    if match:
        name = match.group(1).rstrip("()")
        parts = len(name.split("."))
        known = {".".join(k.split(".")[-parts:]) for k in _configurables()}
        found = close_names(name, known)
        return ConfigError(f"unknown configurable {name}{suggest(found, [])}")
    match = re.search(
        r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'",
        text,
    )
    if match:
        params = _parameters(match.group(1))
        found = close_names(match.group(2), params)
        return ConfigError(
            f"{match.group(1)} has no parameter {match.group(2)}"
            f"{suggest(found, params)}"
        )
    return None


def _configurables():
    return [
        selector
        for selector, _ in gin_config._REGISTRY.items()
        if not selector.startswith("gin.")
    ]


def _parameters(selector):
    try:
        fn = gin_config._REGISTRY.get_match(selector).wrapped
        return [
            p
            for p in inspect.signature(fn).parameters
            if p not in ("self", "args", "kwargs")
        ]
    except (AttributeError, TypeError, ValueError):
        return []
