"""Deep freezing of JSON-like values: read-only mappings and tuples all the way down."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def freeze(value: object) -> object:
    """Mappings become read-only mappings and lists become tuples, recursively."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: object) -> object:
    """The inverse of `freeze`: plain dicts and lists (for JSON, or to edit a copy)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
