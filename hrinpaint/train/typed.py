"""One checked constructor for every training option dataclass: names, types and the class's own checks.

:func:`checked` builds a frozen dataclass from plain values (a TOML table, the JSON a run saved, a dict in code).
An unknown key is a :class:`~hrinpaint.errors.ConfigError` naming it and the keys there are; a value of the
wrong type is one too; a list becomes the tuple a field declares; an int is taken where a float is declared (and
made a float); a nested dataclass field takes a table and is checked the same way. The class's own
``__post_init__`` checks (values) run last; a ``ValueError`` or ``TypeError`` they raise becomes a
``ConfigError`` that names the owner. The training config, its sections, every trainer's options and every
generator's config are built here, so a bad key or value reads the same everywhere.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from hrinpaint.bounds import check_known
from hrinpaint.errors import ConfigError

T = TypeVar("T")


def checked(cls: type[T], values: Mapping[str, Any], owner: str) -> T:
    """An instance of the dataclass ``cls`` from ``values``.

    Args:
        cls: a dataclass.
        values: field name -> value; missing fields keep their defaults.
        owner: what messages name, e.g. ``"training config [data]"`` or ``"zoom trainer options"``.

    Raises:
        ConfigError: ``values`` is not a table, has a key ``cls`` lacks, a value of the wrong type, or
            ``cls``'s own checks refuse it.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{owner} must be a table of options, got {values!r}")
    names = [item.name for item in dataclasses.fields(cls) if item.init]  # type: ignore[arg-type]
    if not names and values:
        raise ConfigError(f"{owner}: there are none; got {', '.join(sorted(values))}")
    check_known(values, names, owner)
    hints = typing.get_type_hints(cls)
    converted = {name: _coerce(value, hints[name], owner, name) for name, value in values.items()}
    try:
        return cls(**converted)
    except (ValueError, TypeError) as error:  # the class's own checks
        text = " ".join(str(error).split())
        raise ConfigError(text if text.startswith(owner) else f"{owner}: {text}") from None


#: What each scalar type takes (an int where a float is declared, never a bool where a number is).
_SCALARS: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


class _Mismatch(Exception):
    """A value that does not fit a type (caught inside this module only)."""


def _coerce(value: Any, hint: Any, owner: str, name: str) -> Any:
    try:
        return _fit(value, hint, f"{owner} [{name}]")
    except _Mismatch:
        raise ConfigError(f"{owner}: {name} must be {_describe(hint)}, got {value!r}") from None


def _fit(value: Any, hint: Any, section: str) -> Any:
    """``value`` as ``hint`` declares it, or :class:`_Mismatch`; a nested dataclass is checked as ``section``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (arg for arg in args if arg is not type(None)):
            try:
                return _fit(value, option, section)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is typing.Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise _Mismatch
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return checked(hint, value, section)
        raise _Mismatch
    if hint in _SCALARS:
        if isinstance(value, _SCALARS[hint]) and (hint is bool or not isinstance(value, bool)):
            return float(value) if hint is float else value
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_fit(item, args[0], section) for item in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_fit(item, kind, section) for item, kind in zip(value, args, strict=True))
    if origin is dict or hint is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _Mismatch
    return value  # a kind this checker does not know: the class's own checks decide


def _describe(hint: Any) -> str:
    """A type as a message says it: ``a number``, ``a list of numbers``, ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(arg) for arg in args if arg is not type(None)]
        return " or ".join(parts + (["none"] if type(None) in args else []))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0]) if len(set(args)) == 1 else 'values'}"
    if dataclasses.is_dataclass(hint) or origin is dict or hint is dict:
        return "a table"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "whole numbers", float: "numbers", str: "strings"}.get(
        hint, _describe(hint) + "s"
    )
