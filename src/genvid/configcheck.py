"""Field types of config dataclasses, checked when one is built.

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
