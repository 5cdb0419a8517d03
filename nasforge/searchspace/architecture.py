"""Architecture: one candidate of a search space, as a frozen value.

An architecture is a flat mapping from parameter name to a JSON scalar. It covers the network
*and* its training hyper-parameters (AutoML): everything needed to rebuild and retrain it.
Its canonical JSON (sorted keys, no spaces, shortest float repr) is identical in every
process and on every machine, and `arch_id` is a hash of it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from nasforge.errors import SpaceError

Scalar = str | int | float | bool


def _canonical_scalar(name: str, value: object) -> Scalar:
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpaceError(f"Architecture value {name!r}={value!r} must be a finite number.")
        return float(value)
    # numpy scalars and the like: keep ints as ints, floats as floats
    if hasattr(value, "item"):
        return _canonical_scalar(name, value.item())
    raise SpaceError(
        f"Architecture value {name!r}={value!r} has type {type(value).__name__}; "
        "values must be strings, booleans, integers or floats."
    )


@dataclass(frozen=True, slots=True)
class Architecture(Mapping[str, Scalar]):
    """A frozen, hashable mapping of parameter values with a stable `arch_id`.

    Equality and hashing follow the canonical JSON, so two architectures with the same values
    are equal wherever they were made.
    """

    mapping: Mapping[str, Scalar]
    json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping):
            raise SpaceError(f"Architecture values must be a mapping, got {type(self.mapping)}.")
        clean = {}
        for name in sorted(self.mapping):
            if not isinstance(name, str):
                raise SpaceError(f"Architecture parameter names must be strings, got {name!r}.")
            clean[name] = _canonical_scalar(name, self.mapping[name])
        object.__setattr__(self, "mapping", MappingProxyType(clean))
        canonical = json.dumps(clean, sort_keys=True, separators=(",", ":"), allow_nan=False)
        object.__setattr__(self, "json", canonical)

    @property
    def arch_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.json.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpaceError(f"Architecture JSON is malformed ({err}).") from None
        if not isinstance(data, dict):
            raise SpaceError("Architecture JSON must be an object of parameter -> value.")
        return cls(data)

    def replace(self, **changes: Scalar | None) -> Architecture:
        """A copy with some values changed; a value of None removes that parameter."""
        merged = dict(self.mapping)
        for name, value in changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return Architecture(merged)

    def __getitem__(self, name: str) -> Scalar:
        return self.mapping[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.mapping)

    def __len__(self) -> int:
        return len(self.mapping)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Architecture) and other.json == self.json

    def __hash__(self) -> int:
        return hash(self.json)

    def __repr__(self) -> str:
        return f"Architecture({self.json})"
