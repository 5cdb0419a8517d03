"""One generic name -> object registry, used for activations, norms, families, datasets, ..."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from nasforge.errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise an error that lists the nearest names.

    Registries are filled at import time by the modules that define the entries and are not
    mutated afterwards, so they hold no run-time state.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register `obj` under `name`; without `obj`, return a decorator."""

        def add(value: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = value
            return value

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        return (
            f"Unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
            f"Registered {_plural(self.kind)}: {', '.join(self.names())}."
        )

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _plural(kind: str) -> str:
    """'strategy' -> 'strategies', 'family' -> 'families', 'norm' -> 'norms'."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
