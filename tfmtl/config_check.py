"""Checks a gin configuration at the command line's edge, in one line each.

`tfmtl.cli.parse_gin_flags` calls these after parsing the gin files and
command-line bindings, before anything is built:

* `check_bindings`: a command-line macro (`--gin.NAME=...`) that no binding
  of the configuration reads, directly or through other macros, is a typo
  (`--gin.TRAIN_STEP=2` would otherwise train for the default number of
  steps): `unknown macro TRAIN_STEP; did you mean TRAIN_STEPS?`.
* `check_values`: values bound to well-known parameters (steps and batch
  sizes, paths, the weighting) have the right type, so a string where an
  int goes is one line instead of a `TypeError` deep in training.

gin's own parse errors get the same treatment in `tfmtl.gin_errors`.

Only the command line's own macros are checked for use: gin files may
define macros for optional parts they do not use.
"""

import difflib
import re

from gin import config as gin_config

_MACRO = "gin.macro"
# `scope/NAME = ...` or `NAME = ...` (a macro: no dot in the last part).
_STATEMENT = re.compile(r"^([A-Za-z_][\w./]*)\s*=\s*(.*)$")
_POSITIVE = frozenset(
    {
        "train_steps",
        "global_batch_size",
        "batch_size",
        "eval_batch_size",
        "eval_steps",
        "eval_every",
        "checkpoint_every",
        "summary_every",
        "accumulation_steps",
        "every_n_steps",
        "policy_steps",
        "weight_steps",
        "steps",
    }
)
_NONNEGATIVE = frozenset({"warmup_steps", "ramp_steps"})
_NOT_NONE = frozenset({"train_steps", "global_batch_size"})
_PATH = re.compile(r"(_dir|^root|_root)$")


class ConfigError(ValueError):
    """A bad gin binding or value; the message is one line with the fix."""


def close_names(name, known, n=3):
    """Up to `n` names of `known` closest to `name` (difflib's ratio)."""
    known = sorted(set(known))
    found = difflib.get_close_matches(name, known, n=n, cutoff=0.6)
    ratios = [difflib.SequenceMatcher(None, name, f).ratio() for f in found]
    found = [f for f, r in zip(found, ratios) if r >= ratios[0] - 0.1]
    lower = {k.lower(): k for k in known}
    if not found and name.lower() in lower:
        found = [lower[name.lower()]]
    return found


def suggest(found, known):
    if found:
        return f"; did you mean {' or '.join(found)}?"
    return f"; known: {', '.join(sorted(known))}." if known else "."


def command_line_macros(bindings):
    """`{macro name: (binding text, value text)}` bound by `bindings`."""
    macros = {}
    for binding in bindings:
        for line in binding.splitlines():
            match = _STATEMENT.match(line.strip())
            if match and "." not in match.group(1).rsplit("/", 1)[-1]:
                macros[match.group(1)] = (line.strip(), match.group(2))
    return macros


def _macro_refs(value):
    macro = gin_config.get_configurable(gin_config.macro)
    return {
        ref.config_key[0]
        for ref in gin_config.iterate_references(value, to=macro)
    }


def used_macros(config=None):
    """Macros read by a non-macro binding, directly or through macros."""
    config = gin_config._CONFIG if config is None else config
    used, todo = set(), set()
    for (_, selector), params in config.items():
        if selector != _MACRO:
            todo |= _macro_refs(params)
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo |= _macro_refs(config.get((name, _MACRO), {}))
    return used


def check_bindings(bindings, allow_unused=()):
    """Raises ConfigError for a command-line macro no binding reads.

    Args:
        bindings: the command line's gin bindings (`--gin_bindings`).
        allow_unused: macro names that may go unused (bound by tools for
            configurations that may or may not read them).
    """
    config = gin_config._CONFIG
    used = used_macros(config)
    defined = {name for name, selector in config if selector == _MACRO}
    for name in command_line_macros(bindings):
        if name in used or name in allow_unused:
            continue
        known = used or defined
        found = close_names(name, known)
        if found:
            raise ConfigError(f"unknown macro {name}{suggest(found, known)}")
        raise ConfigError(
            f"unknown macro {name}: no binding of the configuration reads "
            f"it; macros in use: {', '.join(sorted(known))}."
        )


def _resolve(value):
    """`(literal value, first macro name or None)` behind macro references."""
    first = None
    seen = set()
    while (
        isinstance(value, gin_config.ConfigurableReference)
        and value.selector == _MACRO
        and value.config_key not in seen
    ):
        seen.add(value.config_key)
        first = first or value.config_key[0]
        value = gin_config._CONFIG.get(value.config_key, {}).get("value")
    return value, first


def _where(selector, param, macro):
    short = ".".join(selector.split(".")[-2:])
    return macro if macro else f"{short}.{param}"


def _flag(name, example):
    if "." in name:
        return f'--gin_bindings="{name} = {example}"'
    return f"--gin.{name}={example}"


def _check_value(selector, param, value, macro):
    where = _where(selector, param, macro)
    if isinstance(value, gin_config.ConfigurableReference):
        return
    if param in _POSITIVE or param in _NONNEGATIVE:
        if value is None and param not in _NOT_NONE:
            return
        low = 1 if param in _POSITIVE else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            kind = "positive" if low else "non-negative"
            fix = _int_fix(where, value, low)
            raise ConfigError(
                f"{where} must be a {kind} int, got {value!r} "
                f"({type(value).__name__}){fix}"
            )
    elif _PATH.search(param) and value is not None:
        if not isinstance(value, str):
            raise ConfigError(
                f"{where} must be a path (a quoted string), got {value!r} "
                f"({type(value).__name__}); e.g. "
                f"{_flag(where, repr(repr(str(value))))}"
            )
    elif param == "weighting" and isinstance(value, str):
        raise ConfigError(_weighting_message(where, value))


def _int_fix(where, value, low):
    """`; e.g. --gin.NAME=10` for a number given as a string or float."""
    if isinstance(value, int) or not isinstance(value, str | float):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if number != int(number) or number < low:
        return ""
    return f"; e.g. {_flag(where, int(number))}"


def _weighting_message(where, value):
    from tfmtl import weighting

    names = {key: cls.__name__ for key, cls in weighting.ALL.items()}
    key = value.lower().replace("-", "_")
    found = [names[key]] if key in names else []
    found = found or close_names(value, [*names.values(), *names])
    found = [names.get(f, f) for f in found]
    fix = ""
    if found:
        fix = f"; e.g. WEIGHTING = @weighting.{found[0]} in a gin file"
    return (
        f"{where} is the string {value!r}, but weightings are gin references"
        f"{fix} (see gin_configs/weighting/); known weightings: "
        f"{', '.join(sorted(names.values()))}."
    )


def check_values(config=None):
    """Raises ConfigError for a badly typed well-known parameter value."""
    config = gin_config._CONFIG if config is None else config
    for (_, selector), params in sorted(config.items()):
        if selector == _MACRO:
            continue
        for param, value in sorted(params.items()):
            value, macro = _resolve(value)
            _check_value(selector, param, value, macro)
