"""Deep freezing of JSON-like values: read-only mappings and tuples all the way down."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar, overload

K = TypeVar("K")


@overload
def freeze(value: Mapping[K, object]) -> Mapping[K, object]: ...
@overload
def freeze(value: list[object] | tuple[object, ...]) -> tuple[object, ...]: ...
@overload
def freeze(value: object) -> object: ...


def freeze(value: object) -> object:
    """Mappings become read-only mappings and lists become tuples, recursively."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def table(value: Mapping[str, object], key: str) -> Mapping[str, object]:
    """The sub-table `value[key]` of a JSON-like mapping (a stored config's ``search``);
    empty where it is absent or not a mapping."""
    found = value.get(key)
    return found if isinstance(found, Mapping) else {}


@overload
def thaw(value: Mapping[K, object]) -> dict[K, object]: ...
@overload
def thaw(value: list[object] | tuple[object, ...]) -> list[object]: ...
@overload
def thaw(value: object) -> object: ...


def thaw(value: object) -> object:
    """The inverse of `freeze`: plain dicts and lists (for JSON, or to edit a copy)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
