"""The Family protocol: how a group of parameters becomes a network plan.

A family declares its own parameters (names without the family prefix; the space assembler
adds ``family.`` and the condition ``family == name``) and turns an architecture into a
`NetworkPlan`. Families are torch-free: `build.py` is the only step that makes modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from nasforge.errors import SpaceError, did_you_mean
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.params import Param
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.quantization import layer_bits
from nasforge.searchspace.space import Canonicalizer, When
from nasforge.searchspace.specs import norm_activations

T = TypeVar("T")

#: Conditions of a family's parameters, by parameter name.
Conditions = dict[str, tuple[When, ...]]



class Family(Protocol):
    name: str

    @property
    def layer_count_key(self) -> str | None:
        """The parameter counting the blocks that get their own bit widths with
        ``per_layer_bits = true`` (e.g. "depth"); None: the family has no per-layer widths.
        Read-only here, so a family may declare it ``str`` or ``None`` (a class attribute)."""

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        """The family's parameters and their conditions from its `[space.<family>]` table
        (defaults where keys are absent; unknown keys raise SpaceError listing the allowed)."""

    def canonicalizer(self, spec: Mapping[str, object]) -> Canonicalizer | None:
        """A function mapping the family's assignments to one canonical form per distinct
        network (the cell family: isomorphic cells), or None where every assignment is."""

    def check_data(self, data: DataSpec) -> None:
        """Raise SpaceError when this family cannot fit `data` (e.g. a CNN on flat features).

        A family may also define ``check_space(space, data)`` (optional, not part of the
        protocol): `assemble.check_space_fits` calls it to refuse ranges of the whole space
        that cannot fit the data (a kernel larger than a stage's feature map) before anything
        is trained."""

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

    @property
    def activation(self) -> str | None:
        """The activation; None where the norm is a norm-activation layer that subsumes it
        (the space then has no activation for this architecture)."""
        value = self.get("activation", None)
        if value is not None:
            return str(value)
        subsuming = norm_activations()  # plugin norm-activations included
        if self.get("norm", "none") in subsuming:
            return None
        raise SpaceError(
            f"Architecture for family {self.family!r} has no activation, and its norm "
            f"{self.get('norm', 'none')!r} is not a norm-activation layer "
            f"({', '.join(sorted(subsuming))}); add an activation to the space."
        )

    def get(self, key: str, default: T) -> Scalar | T:
        try:
            return self[key]
        except SpaceError:
            return default

    def per_index(self, key: str, i: int) -> Scalar:
        """`key.i` when the space has per-layer values, else the shared `key`."""
        name = f"{self.family}.{key}.{i}"
        return self.arch[name] if name in self.arch else self[key]


def per_index_params(key: str, param: Param, count_key: str, count: Param
                     ) -> tuple[dict[str, Param], Conditions]:
    """Parameters `key.0`, `key.1`, ... one per possible index of `count_key`; `key.i` exists
    only when the count is above i (e.g. `width.2` only when `depth >= 3`)."""
    counts = sorted(int(c) for c in count.values())  # whole numbers: see check_ints
    params: dict[str, Param] = {}
    conditions: Conditions = {}
    for i in range(max(counts)):
        params[f"{key}.{i}"] = param
        above = tuple(c for c in counts if c > i)
        if len(above) < len(counts):
            conditions[f"{key}.{i}"] = (When(count_key, above),)
    return params, conditions


def check_keys(family: str, spec: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    for key in spec:
        if key not in allowed:
            raise SpaceError(
                f"[space.{family}] has an unknown key {key!r}.{did_you_mean(key, allowed, 2)} "
                f"Allowed keys: {', '.join(allowed)}."
            )


#: Upper bounds of structural integers: beyond these a candidate can only hang or run out of
#: memory, so the space refuses them up front.
MAX_WIDTH = 65_536
MAX_DEPTH = 64
MAX_STAGES = 16
MAX_KERNEL = 31


def check_ints(param: Param, name: str, low: int = 1, high: int = MAX_WIDTH) -> None:
    """Refuse non-integers (booleans too), values below `low` and absurd sizes above `high`."""
    values = [] if param.size is None else list(param.values())
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= low]
    if param.size is None or len(ints) < len(values):
        raise SpaceError(f"[space] {name} must be whole numbers >= {low} (a value, a list or an "
                         "integer range {low, high}).")
    if max(ints) > high:
        raise SpaceError(
            f"[space] {name} allows {max(ints)}, which is absurdly large for this "
            f"setting (at most {high}); use a smaller range."
        )


def require_spatial(family: str, data: DataSpec) -> None:
    """Refuse flat features for a family that convolves (its inputs need spatial axes)."""
    if data.spatial_dims not in (1, 2):
        raise SpaceError(
            f"The {family} family needs sequence (C, L) or image (C, H, W) inputs, but dataset "
            f"{data.name!r} has input shape {data.input_shape}. Use the mlp family, or give "
            "[data] input_shape (e.g. [1, n_features]) to read the features as a signal."
        )


def dense_head(plan: PlanBuilder, view: FamilyView, norm: str, activation: str | None,
               num_outputs: int) -> NetworkPlan:
    """The end of a network on pooled or flat features: an optional hidden linear layer of
    ``head_width`` units (with the activation, or the norm-activation layer standing for
    it), then the classifier (the last layer for the 8-bit ends policy)."""
    head_width = int(view["head_width"])
    if head_width:
        plan.linear(head_width, bits=layer_bits(view.get, None, first=False, last=False))
        # after a norm-activation layer (EvoNorm) the head uses it as its nonlinearity
        plan.activation(activation) if activation is not None else plan.norm(norm)
    bits = layer_bits(view.get, None, first=False, last=True)
    return plan.linear(num_outputs, bits=bits).build()
