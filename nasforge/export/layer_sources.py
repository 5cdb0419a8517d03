"""The export's layer registries: activation / norm name -> constructor source and blocks.

Every registered activation and norm of `nasforge.searchspace.layers` must have an entry here
(a contract test fails otherwise). An entry maps (channels, dims) to the Python expression
that builds the layer in the generated model.py and names the inline blocks (`blocks.py`) it
needs; the layer it builds has the same state_dict keys as the one `build.py` builds.
Expressions are made from generated text and integers only, never from a name in a config.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LayerSource:
    """How the generated code builds one layer kind: `expr(channels, dims)`, the blocks it
    needs, and the prefix of its attribute names (``act`` -> ``self.act1``)."""

    expr: Callable[[int, int], str]
    blocks: tuple[str, ...] = ()
    prefix: str = "act"


def _torch(expr: str) -> LayerSource:
    return LayerSource(lambda c, d: expr)


def _nd(c: int, d: int) -> int:
    """1 for (N, C) and (N, C, L) (BatchNorm1d / InstanceNorm1d), 2 for images."""
    return 2 if d == 2 else 1


ACTIVATION_SOURCES: dict[str, LayerSource] = {
    "relu": _torch("nn.ReLU()"),
    "leaky_relu": _torch("nn.LeakyReLU(0.01)"),
    "gelu": _torch("nn.GELU()"),
    "gelu_tanh": _torch('nn.GELU(approximate="tanh")'),
    "silu": _torch("nn.SiLU()"),
    "tanh": _torch("nn.Tanh()"),
    "mish": _torch("nn.Mish()"),
    "elu": _torch("nn.ELU()"),
    "selu": _torch("nn.SELU()"),
    "celu": _torch("nn.CELU()"),
    "sigmoid": _torch("nn.Sigmoid()"),
    "hardswish": _torch("nn.Hardswish()"),
    "softplus": _torch("nn.Softplus()"),
    "prelu": LayerSource(lambda c, d: f"nn.PReLU(num_parameters={int(c)}, init=0.25)"),
    "swish": LayerSource(lambda c, d: f"Swish({int(c)})", ("per_channel", "swish")),
    "sin": LayerSource(lambda c, d: "Sin()", ("sin",)),
    "snake": LayerSource(lambda c, d: f"Snake({int(c)})", ("per_channel", "snake")),
    "pau": LayerSource(lambda c, d: "PAU()", ("pau",)),
}


def norm_groups(channels: int, dims: int) -> int:
    """gcd(32, C) groups, halved on (N, C) until every group has 2 values: the torch-free
    twin of `layers.evonorm.s0_groups` (a test checks they agree)."""
    groups = math.gcd(32, channels)
    if dims == 0:
        while groups > 1 and channels // groups < 2:
            groups //= 2
    return groups


def _layer(c: int, d: int) -> str:
    return f"nn.LayerNorm({int(c)})" if d == 0 else f"nn.GroupNorm(1, {int(c)})"


NORM_SOURCES: dict[str, LayerSource] = {
    "none": LayerSource(lambda c, d: "nn.Identity()", prefix="norm"),
    "batch": LayerSource(lambda c, d: f"nn.BatchNorm{_nd(c, d)}d({int(c)})", prefix="bn"),
    "layer": LayerSource(_layer, prefix="ln"),
    "group": LayerSource(lambda c, d: f"nn.GroupNorm({norm_groups(c, d)}, {int(c)})",
                         prefix="gn"),
    "instance": LayerSource(
        lambda c, d: f"nn.InstanceNorm{_nd(c, d)}d({int(c)}, affine=True)", prefix="inorm"),
    "rms": LayerSource(lambda c, d: f"ChannelRMSNorm({int(c)})", ("per_channel", "rms"),
                       prefix="rms"),
    "ibn": LayerSource(lambda c, d: f"IBN({int(c)}, {int(d)})", ("ibn",), prefix="ibn"),
    "evonorm_b0": LayerSource(lambda c, d: f"EvoNormB0({int(c)})",
                              ("per_channel", "evonorm", "evonorm_b0"), prefix="evonorm"),
    "evonorm_s0": LayerSource(
        lambda c, d: f"EvoNormS0({int(c)}, groups={norm_groups(c, d)})",
        ("per_channel", "evonorm", "evonorm_s0"), prefix="evonorm"),
}
