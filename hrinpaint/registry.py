"""A small registry: name -> builder, with lazy entries so that importing hrinpaint imports no method.

Entries are added explicitly (never by scanning the file system). A lazy entry names ``"module:attribute"``;
the module is imported the first time the entry is built, so ``hrinpaint --help`` stays instant and a
method with heavy dependencies costs nothing until it is used.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from hrinpaint.bounds import check_bounds, check_known
from hrinpaint.errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to classes (or factories) that take keyword config.

    Args:
        kind: what the entries are, for messages ("filler", "lifter", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T] | str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, target: Callable[..., T] | str, help: str = "") -> None:
        """Adds ``name``; ``target`` is a callable or a lazy ``"module:attribute"`` path."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"lazy target must be 'module:attribute', got {target!r}")
        self._entries[name] = target
        self._help[name] = help

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def help(self, name: str) -> str:
        return self._help[self._check(name)]

    def _check(self, name: str) -> str:
        if name not in self._entries:
            known = ", ".join(self.names()) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}")
        return name

    def get(self, name: str) -> Callable[..., T]:
        """Returns the class or factory for ``name``, importing it if the entry is lazy."""
        target = self._entries[self._check(name)]
        if isinstance(target, str):
            module_name, attribute = target.split(":")
            target = getattr(importlib.import_module(module_name), attribute)
            self._entries[name] = target
        return target

    def build(self, name: str, **config: Any) -> T:
        """Builds ``name`` with keyword config.

        Unknown keys, values outside :mod:`hrinpaint.bounds` and whatever the config's own checks refuse raise
        :class:`ConfigError` with one line that names the part and the option, before anything is built.
        """
        factory = self.get(name)
        checked = self.checked_config(name, **config)
        return factory(**config) if checked is None else factory(checked)  # type: ignore[call-arg]

    def checked_config(self, name: str, **config: Any) -> Any:
        """``name``'s config object built from keyword config with :meth:`build`'s checks (None when the part
        takes plain keywords), without building the part: a caller can refuse bad options before any work."""
        config_class = getattr(self.get(name), "Config", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            return None
        check_known(config, (field.name for field in dataclasses.fields(config_class)), f"{self.kind} {name!r}")
        check_bounds(self.kind, name, config, config_class)
        try:
            return config_class(**config)
        except (ValueError, TypeError) as error:  # the config's own checks (ConfigError), as one line with the part
            raise ConfigError(f"{self.kind} {name!r}: {' '.join(str(error).split())}") from None
