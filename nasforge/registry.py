"""One generic name -> object registry, used for activations, norms, families, datasets, ...

Every entry records its *origin*: who registered it (``nasforge`` for the built-ins, a plugin
``plugin example (nasforge_example.plugin, dist nasforge-example 0.1)``, or the module that
called `register`). A second registration of a name is refused with an error naming both
origins.

`stage(origin)` makes a group of registrations (one plugin's) all-or-nothing: inside the
``with`` block every registration, in any registry, is journalled; on an exception they are
all removed again (`Stage.rollback`), on a clean exit they stay.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Generic, TypeVar, overload

from nasforge.errors import NasforgeError, UnknownNameError, did_you_mean

T = TypeVar("T")


class RegistryClash(NasforgeError, ValueError):
    """A name registered twice; the message names both origins."""


@dataclass
class Stage:
    """The registrations made since `stage()` began: (registry, name) pairs, in order."""

    origin: str
    added: list[tuple[Registry[Any], str]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [f"{registry.kind} {name!r}" for registry, name in self.added]

    def rollback(self) -> None:
        """Remove every entry this stage registered (newest first)."""
        for registry, name in reversed(self.added):
            registry._remove(name)
        self.added.clear()


_stages: list[Stage] = []  # the open stages, innermost last (registry state, per process)


@contextmanager
def stage(origin: str) -> Iterator[Stage]:
    """Register a group of entries all-or-nothing, each recorded with `origin` (unless its
    registration names its own). An exception inside rolls them all back and propagates."""
    current = Stage(origin)
    _stages.append(current)
    try:
        yield current
    except BaseException:
        current.rollback()
        raise
    finally:
        _stages.remove(current)
    _commit(current)


def _commit(current: Stage) -> None:
    """Keep a stage's registrations (an enclosing stage then owns them)."""
    if _stages:
        _stages[-1].added.extend(current.added)
    current.added = []


def _caller_origin() -> str:
    """The module that called `register` from outside the registry machinery ("nasforge"
    for nasforge's own modules)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in (__name__, "nasforge.extend", "nasforge.benchmark.registered"):
            return "nasforge" if module.startswith("nasforge.") else module
        frame = frame.f_back
    return "unknown"


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise an error that lists the nearest names (and
    the plugins that failed to load, which may have meant to register them).

    Registries are filled at import time by the modules that define the entries and by
    plugins (`nasforge.plugins.load_plugins`); entries are not replaced afterwards.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    @overload
    def register(self, name: str, *, origin: str | None = None) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T, *, origin: str | None = None) -> T: ...

    def register(self, name: str, obj: T | None = None, *, origin: str | None = None
                 ) -> T | Callable[[T], T]:
        """Register `obj` under `name`; without `obj`, return a decorator. `origin`: who
        registers it (default: the open stage's origin, else the calling module)."""
        caller = _caller_origin()
        # nasforge's own modules, even when first imported while a plugin loads, are built-in
        staged = bool(_stages) and caller != "nasforge"
        who = origin or (_stages[-1].origin if staged else caller)

        def add(value: T) -> T:
            self.check_free(name, who)
            self._entries[name] = value
            self._origins[name] = who
            if staged:
                _stages[-1].added.append((self, name))
            return value

        return add if obj is None else add(obj)

    def check_free(self, name: str, origin: str) -> None:
        """Raise RegistryClash when `name` is taken, naming both registrants."""
        if name in self._entries:
            raise RegistryClash(
                f"{self.kind.capitalize()} {name!r} is already registered by "
                f"{self._origins[name]}; {origin} tried to register it again. Rename one of "
                "them (or uninstall the plugin you do not want).")

    def origin(self, name: str) -> str:
        """Who registered `name` (UnknownNameError for an unknown name)."""
        self.get(name)
        return self._origins[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        return (
            f"Unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
            f"Registered {_plural(self.kind)}: {', '.join(self.names())}.{failure_notes()}"
        )

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def _remove(self, name: str) -> None:
        self._entries.pop(name, None)
        self._origins.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def failure_notes() -> str:
    """What the plugins say about an unknown name: " Plugin X (entry point ...) failed to
    load: reason." per failed plugin, a hint when installed plugins were never loaded in this
    process, or ""."""
    from nasforge.plugins import failure_notes as notes

    return notes()


def _plural(kind: str) -> str:
    """'strategy' -> 'strategies', 'family' -> 'families', 'norm' -> 'norms'."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
