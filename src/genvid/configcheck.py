"""Field types of config dataclasses: checked when one is built, parsed from command lines.

A value from a hand-edited `config.json` (`"lr": "fast"`) or a Python caller then fails with one
line naming the field, instead of a `TypeError` from deep inside a comparison or a layer. A leaf
module: it imports nothing of genvid's, so `models` and `train` can both use it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any


def check_field_types(config: Any) -> None:
    """Raise `ValueError` naming the first field whose value does not have its annotated type.

    Understood annotations: int, float (an int is accepted), bool, str, `Literal[...]` and
    unions of these with None. A bool is not taken for an int or a float. A float must be
    finite: no config field has a meaning for NaN or an infinity, and a NaN would reach the
    weights silently (an SGD momentum) or make the run unresumable (NaN != NaN reads as a
    changed configuration).
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints[field.name]
        if not _matches(value, hint):
            raise ValueError(
                f"{type(config).__name__}.{field.name} must be {_describe(hint)}, got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{type(config).__name__}.{field.name} must be finite, got {value}")


def parse_field_value(option: str, text: str, field_type: type) -> Any:
    """`text` as a value of a config field of `field_type` (bool, int, float or str).

    The command line's `--set` and a sweep's `--param` both parse with this. A bool is "true"
    or "false" (any case). "nan" and "inf" parse as floats: the config built from the value
    refuses them (`check_field_types`), naming its class and field, so the rule has one home.

    Raises:
        ValueError: naming `option` (e.g. "--set lr") and `text`.
    """
    try:
        if field_type is bool:
            return {"true": True, "false": False}[text.lower()]
        return field_type(text)
    except (KeyError, ValueError):
        raise ValueError(f"{option}: {text!r} is not a valid {field_type.__name__}") from None


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return any(type(value) is type(arg) and value == arg for arg in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return f"{'an' if hint.__name__[0] in 'aeiou' else 'a'} {hint.__name__}"
