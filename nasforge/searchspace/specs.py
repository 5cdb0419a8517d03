"""One registered spec per plan-op kind and per layer kind (torch-free).

A spec is the single place that says everything the rest of nasforge needs about one kind:

- its torch-free cost (parameters, MACs, bit-ops, size), read by plans, reports and strategies;
- its torch builder (`build`), read by `searchspace/build.py`;
- its export (`export` plus the portable `source` modules inlined into model.py);
- its stacked (fused) implementation, or `NOT_STACKABLE`;
- its supernet rule, or `FIXED` / `NOT_ELASTIC`.

Readers dispatch through the spec (`spec_of(op)`, `ACTIVATIONS.get(kind)`); none of them
switches on op kinds itself. Torch-side parts are named by reference (``"module:attr"``) and
imported only when first used, so that this module and the costs stay torch-free.

The built-in specs are registered by `op_specs` and `layer_specs` (imported at the bottom).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nasforge.errors import SpaceError, UnknownNameError
from nasforge.registry import Registry

if TYPE_CHECKING:
    from nasforge.searchspace.plan_ops import Branch


class Marker:
    """A named sentinel (`NOT_STACKABLE`, `ELEMENTWISE`, ...), compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NOT_STACKABLE = Marker("NOT_STACKABLE")
"""fused: candidates holding this op are trained one at a time."""
ELEMENTWISE = Marker("ELEMENTWISE")
"""fused: a parameter-free elementwise layer; each model's own module runs on its slice."""
FIXED = Marker("FIXED")
"""elastic: the op has no weights; the supernet runs it as it is."""
PER_WIDTH = Marker("PER_WIDTH")
"""elastic: the supernet keeps one module per (slot, kind, width) (norms, activations)."""
NOT_ELASTIC = Marker("NOT_ELASTIC")
"""elastic: the op cannot be part of a supernet (a clear error names it)."""

Ref = Any
"""A torch-side part: ``"package.module:attr"`` (imported on first use) or the object itself."""

LAYOUTS = {0: "(N, C)", 1: "(N, C, L)", 2: "(N, C, H, W)"}

PORTABLE_IMPORTS = ("math", "typing", "torch", "torch.nn", "torch.nn.functional")
"""What a portable layer module may import besides other portable modules: the exporter
inlines its text into model.py, which needs torch alone (`export.sources`, `extend`)."""
PORTABLE_PACKAGE = "nasforge.searchspace.layers.portable"


def resolve(ref: Ref) -> Any:
    """The object a reference names (``"module:attr"``), or `ref` itself when it is not a
    string. Python caches the imported module, so resolving twice costs a dict lookup."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    if not attr:
        raise SpaceError(f"Spec reference {ref!r} should read 'package.module:attribute'.")
    try:
        # a module already imported is sys.modules' (what import_module returns, without
        # its import machinery: the planner resolves tens of thousands of refs a search);
        # one still being imported (by another thread) waits in import_module
        value: Any = sys.modules.get(module)
        if value is None or getattr(getattr(value, "__spec__", None), "_initializing", False):
            value = importlib.import_module(module)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise SpaceError(f"Spec reference {ref!r} cannot be imported: {error}") from error
    return value


@dataclass(frozen=True, slots=True)
class Cost:
    """What one op costs for one sample.

    `params`: learnable parameters (None: unknown without building); `weights` of them are
    weight-tensor elements stored at `weight_bits`, the rest at 32 bits; `macs` at
    `weight_bits` x `act_bits` bit-ops each.
    """

    params: int | None = 0
    macs: int = 0
    weights: int = 0
    weight_bits: int = 32
    act_bits: int = 32

    @property
    def bops(self) -> int:
        return self.macs * self.weight_bits * self.act_bits

    @property
    def size_bits(self) -> int | None:
        if self.params is None:
            return None
        return self.weights * self.weight_bits + (self.params - self.weights) * 32


def _no_children(op: object) -> tuple[Branch, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class OpSpec:
    """Everything nasforge knows about one plan-op type (`Linear`, `Conv`, `Cell`, ...).

    `cost(op, out_shape)` is torch-free. `children(op)` lists the branches of a composite op
    (cells, residual blocks). `signature(op, sub)` is the op's structure without sizes
    (`sub(ops)` gives a branch's); None: every field except `size_fields`.
    `build(op, ctx) -> nn.Module` and `check(op) -> str | None` (a reason it cannot be built)
    are read by `build.py`; `export(op, builder) -> Expr` by the exporter, with `prefix` the
    attribute-name prefix in model.py; `fused` and `elastic` by the stacked trainer and the
    supernet. `origin` names who registered the spec (for error messages).
    """

    name: str
    op_type: type
    cost: Callable[[Any, tuple[int, ...]], Cost]
    build: Ref
    export: Ref
    prefix: str | Callable[[Any], str]
    fused: Ref = NOT_STACKABLE
    elastic: Ref = NOT_ELASTIC
    check: Ref = None
    children: Callable[[Any], tuple[Branch, ...]] = _no_children
    signature: Callable[[Any, Callable[[tuple[Any, ...]], tuple[object, ...]]],
                        tuple[object, ...]] | None = None
    size_fields: frozenset[str] = frozenset()
    origin: str = "nasforge"

    def attribute_prefix(self, op: object) -> str:
        """The prefix of the op's attribute names in model.py (``fc`` -> ``self.fc1``)."""
        return self.prefix if isinstance(self.prefix, str) else self.prefix(op)

    def signature_of(self, op: object, sub: Callable[[tuple[Any, ...]], tuple[object, ...]]
                     ) -> tuple[object, ...]:
        """The op's structure without sizes (see `NetworkPlan.signature`)."""
        if self.signature is not None:
            return self.signature(op, sub)
        fields = tuple((name, getattr(op, name)) for name in getattr(op, "__slots__", ())
                       if name not in self.size_fields)
        return (type(op).__name__, *fields)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One activation or norm kind (the `kind` of an `Activation` / `Norm` op).

    `build(channels, dims) -> nn.Module`; `params(channels, dims)` its learnable parameters,
    torch-free (None: unknown, count the built module); `dims` the spatial axes it accepts
    (0: (N, C), 1: (N, C, L), 2: (N, C, H, W)); `norm_activation`: a norm that stands for the
    activation after it too (EvoNorm). `export(channels, dims)` is its constructor call in
    model.py and `source` the portable modules (their whole text is inlined into model.py,
    see `nasforge.export.sources`) that define the classes it calls; `prefix` names its
    attributes there (``act`` -> ``self.act1``). `fused`: `ELEMENTWISE`, `NOT_STACKABLE` or
    a reference to a stacked implementation; `elastic`: `PER_WIDTH` or `NOT_ELASTIC`.
    """

    name: str
    role: Literal["activation", "norm"]
    build: Ref
    export: Callable[[int, int], str]
    params: Callable[[int, int], int | None] | None = None
    dims: frozenset[int] = frozenset({0, 1, 2})
    source: tuple[str, ...] = ()
    prefix: str = "act"
    fused: Ref = NOT_STACKABLE
    elastic: Ref = PER_WIDTH
    norm_activation: bool = False
    summary: str = ""
    origin: str = "nasforge"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __call__(self, channels: int, dims: int) -> Any:
        """Build the layer (an ``nn.Module``) for `channels` features over `dims` axes."""
        build = resolve(self.build)
        if dims not in self.dims:
            build(channels, dims)  # a built-in factory's own message says more, when it has one
        self.check_dims(dims)
        return build(channels, dims)

    def check_dims(self, dims: int) -> None:
        if dims not in self.dims:
            layout = LAYOUTS.get(dims, f"{dims} spatial axes")
            allowed = ", ".join(LAYOUTS.get(d, str(d)) for d in sorted(self.dims))
            raise SpaceError(f"{self.role.capitalize()} {self.name!r} does not support {layout} "
                             f"inputs; it works on {allowed}. Choose another {self.role} "
                             "for this layer.")

    def count_params(self, channels: int, dims: int) -> int | None:
        return None if self.params is None else self.params(channels, dims)


class OpRegistry(Registry[OpSpec]):
    """Op specs by name, and by the plan-op type they describe."""

    def __init__(self) -> None:
        super().__init__("plan op")
        self._by_type: dict[type, OpSpec] = {}

    def add(self, spec: OpSpec) -> OpSpec:
        if spec.op_type in self._by_type:
            raise ValueError(f"plan op type {spec.op_type.__name__} already has a spec "
                             f"({self._by_type[spec.op_type].name!r})")
        self.register(spec.name, spec)
        self._by_type[spec.op_type] = spec
        return spec

    def of(self, op: object) -> OpSpec:
        spec = self._by_type.get(type(op))
        if spec is None:
            raise UnknownNameError(
                f"Plan op {type(op).__name__} has no registered spec; register one with "
                "nasforge.searchspace.specs.OP_SPECS.add(OpSpec(...)). Registered: "
                f"{', '.join(self.names())}.")
        return spec


OP_SPECS = OpRegistry()
ACTIVATIONS: Registry[LayerSpec] = Registry("activation")
NORMS: Registry[LayerSpec] = Registry("norm")


def spec_of(op: object) -> OpSpec:
    """The spec of a plan op (UnknownNameError for a type without one)."""
    return OP_SPECS.of(op)


def layer_spec(role: str, kind: str) -> LayerSpec:
    """The spec of activation or norm `kind` (`role` "activation" / "norm")."""
    return (NORMS if role == "norm" else ACTIVATIONS).get(kind)


def norm_activations() -> frozenset[str]:
    """Norm kinds that are norm-activation layers (EvoNorm B0/S0, plugin ones)."""
    return frozenset(name for name in NORMS.names() if NORMS.get(name).norm_activation)


def per_channel(per: int, fixed: int = 0) -> Callable[[int, int], int]:
    """A parameter count of `per` per channel plus `fixed`."""
    return lambda channels, dims: per * channels + fixed


def op_cost(op: object, out_shape: tuple[int, ...]) -> Cost:
    return spec_of(op).cost(op, out_shape)


def positions(shape: tuple[int, ...]) -> int:
    """Spatial positions of a (C, *spatial) shape."""
    return math.prod(shape[1:])


# The built-in specs register themselves on import (after the names above exist).
from nasforge.searchspace import layer_specs, op_specs  # noqa: E402, F401
