"""The Family protocol: how a group of parameters becomes a network plan.

A family declares its own parameters (names without the family prefix; the space assembler
adds ``family.`` and the condition ``family == name``) and turns an architecture into a
`NetworkPlan`. Families are torch-free: `build.py` is the only step that makes modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.params import Param
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.space import When

#: Parameters every family reads from the top level of the space (not family-prefixed).
SHARED_LAYER_PARAMS = ("activation", "norm", "dropout")


class Family(Protocol):
    name: str

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], dict[str, tuple[When, ...]]]:
        """The family's parameters and their conditions from its `[space.<family>]` table
        (defaults where keys are absent; unknown keys raise SpaceError listing the allowed)."""

    def check_data(self, data: DataSpec) -> None:
        """Raise SpaceError when this family cannot fit `data` (e.g. a CNN on flat features)."""

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        """The network for `arch` on `data`."""


class FamilyView:
    """Read an architecture's values for one family: `view["depth"]` is `arch["mlp.depth"]`."""

    def __init__(self, family: str, arch: Architecture) -> None:
        self.family = family
        self.arch = arch

    def __getitem__(self, key: str) -> Scalar:
        name = f"{self.family}.{key}"
        if name in self.arch:
            return self.arch[name]
        if key in self.arch:
            return self.arch[key]
        raise SpaceError(
            f"Architecture for family {self.family!r} has no parameter {name!r} (nor {key!r}); "
            "it does not come from this family's space."
        )

    def get(self, key: str, default: Scalar) -> Scalar:
        try:
            return self[key]
        except SpaceError:
            return default

    def per_index(self, key: str, i: int) -> Scalar:
        """`key.i` when the space has per-layer values, else the shared `key`."""
        name = f"{self.family}.{key}.{i}"
        return self.arch[name] if name in self.arch else self[key]


def check_keys(family: str, spec: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    import difflib

    for key in spec:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=2, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            raise SpaceError(
                f"[space.{family}] has an unknown key {key!r}.{hint} "
                f"Allowed keys: {', '.join(allowed)}."
            )


MAX_WIDTH = 65_536


def check_positive_ints(param: Param, name: str, maximum: int = MAX_WIDTH) -> None:
    """Refuse non-integers, values < 1 and absurd sizes (a width of 10**9 would only OOM)."""
    if param.size is None or any(not isinstance(v, int) or isinstance(v, bool) or v < 1
                                 for v in param.values()):
        raise SpaceError(f"[space] {name} must be positive integers (a list or an integer range).")
    if max(param.values()) > maximum:  # type: ignore[type-var]
        raise SpaceError(
            f"[space] {name} allows {max(param.values())}, which is absurdly large for this "
            f"setting (at most {maximum}); use a smaller range."
        )
