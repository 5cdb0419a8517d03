"""The built-in activation and norm specs (torch-free manifest; see `specs.LayerSpec`).

A built-in layer is one file (its factory, and its class in a portable module under
`layers/portable/` when torch has none) plus one line here. Parameter counts are checked
against the built modules by the contract tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

from nasforge.searchspace.specs import (
    ACTIVATIONS,
    ELEMENTWISE,
    NORMS,
    LayerSpec,
    Ref,
    per_channel,
)

if TYPE_CHECKING:
    from typing import Unpack

_ACTS = "nasforge.searchspace.layers.activations"
_NORMS = "nasforge.searchspace.layers.norms"
_PORTABLE = "nasforge.searchspace.layers.portable"
_FUSED = "nasforge.evaluator.fused.ops"
_NO_PARAMS = per_channel(0)


class _Fields(TypedDict, total=False):
    """The optional `LayerSpec` fields the specs below set."""

    params: Callable[[int, int], int | None] | None
    dims: frozenset[int]
    source: tuple[str, ...]
    fused: Ref
    elastic: Ref
    norm_activation: bool
    summary: str


def activation(name: str, export: Callable[[int, int], str], *, build: str | None = None,
               **fields: Unpack[_Fields]) -> LayerSpec:
    fields.setdefault("params", _NO_PARAMS)
    spec = LayerSpec(name, "activation", build or f"{_ACTS}:{name}", export, **fields)
    return ACTIVATIONS.register(name, spec)


def norm(name: str, export: Callable[[int, int], str], *, prefix: str,
         **fields: Unpack[_Fields]) -> LayerSpec:
    fields.setdefault("params", per_channel(2))
    spec = LayerSpec(name, "norm", f"{_NORMS}:{name}", export, prefix=prefix, **fields)
    return NORMS.register(name, spec)


def _constant(expr: str) -> Callable[[int, int], str]:
    """An export function that ignores channels and dims: ``nn.ReLU()``."""
    return lambda channels, dims: expr


def _nd(dims: int) -> int:
    """1 for (N, C) and (N, C, L) (BatchNorm1d / InstanceNorm1d), 2 for images."""
    return 2 if dims == 2 else 1


def norm_groups(channels: int, dims: int) -> int:
    """gcd(32, C) groups, halved on (N, C) until every group has 2 values: the torch-free
    twin of `layers.evonorm.s0_groups` (a test checks they agree)."""
    groups = math.gcd(32, channels)
    if dims == 0:
        while groups > 1 and channels // groups < 2:
            groups //= 2
    return groups


for _name, _expr in (("relu", "nn.ReLU()"), ("leaky_relu", "nn.LeakyReLU(0.01)"),
                     ("gelu", "nn.GELU()"), ("gelu_tanh", 'nn.GELU(approximate="tanh")'),
                     ("silu", "nn.SiLU()"), ("tanh", "nn.Tanh()"), ("mish", "nn.Mish()"),
                     ("elu", "nn.ELU()"), ("selu", "nn.SELU()"), ("celu", "nn.CELU()"),
                     ("sigmoid", "nn.Sigmoid()"), ("hardswish", "nn.Hardswish()"),
                     ("softplus", "nn.Softplus()")):
    activation(_name, _constant(_expr), fused=ELEMENTWISE)

activation("prelu", lambda c, d: f"nn.PReLU(num_parameters={int(c)}, init=0.25)",
           params=per_channel(1))
activation("swish", lambda c, d: f"Swish({int(c)})", params=per_channel(1),
           source=(f"{_PORTABLE}.swish",))
activation("sin", lambda c, d: "Sin()", source=(f"{_PORTABLE}.periodic",))
activation("snake", lambda c, d: f"Snake({int(c)})", params=per_channel(1),
           source=(f"{_PORTABLE}.periodic",))
activation("pau", lambda c, d: "PAU()", params=per_channel(0, 10),
           source=(f"{_PORTABLE}.pau",))

norm("none", lambda c, d: "nn.Identity()", prefix="norm", params=per_channel(0),
     fused=ELEMENTWISE)
norm("batch", lambda c, d: f"nn.BatchNorm{_nd(d)}d({int(c)})", prefix="bn",
     fused=f"{_FUSED}:BATCH_NORM")
norm("layer", lambda c, d: f"nn.LayerNorm({int(c)})" if d == 0 else f"nn.GroupNorm(1, {int(c)})",
     prefix="ln", fused=f"{_FUSED}:LAYER_NORM")
norm("group", lambda c, d: f"nn.GroupNorm({norm_groups(c, d)}, {int(c)})", prefix="gn")
norm("instance", lambda c, d: f"nn.InstanceNorm{_nd(d)}d({int(c)}, affine=True)",
     prefix="inorm", dims=frozenset({1, 2}))
norm("rms", lambda c, d: f"ChannelRMSNorm({int(c)})", prefix="rms", params=per_channel(1),
     source=(f"{_PORTABLE}.rms",))
norm("ibn", lambda c, d: f"IBN({int(c)}, {int(d)})", prefix="ibn", dims=frozenset({1, 2}),
     source=(f"{_PORTABLE}.ibn",))
norm("evonorm_b0", lambda c, d: f"EvoNormB0({int(c)})", prefix="evonorm",
     params=per_channel(3), dims=frozenset({1, 2}), norm_activation=True,
     source=(f"{_PORTABLE}.evonorm",))
norm("evonorm_s0", lambda c, d: f"EvoNormS0({int(c)}, groups={norm_groups(c, d)})",
     prefix="evonorm", params=per_channel(3), norm_activation=True,
     source=(f"{_PORTABLE}.evonorm",))
