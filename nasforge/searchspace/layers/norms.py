"""The normalization registry: name -> factory ``(channels, dims) -> nn.Module``.

`dims` is the number of spatial axes after the channel axis: 0 for (N, C) inputs, 1 for
(N, C, L), 2 for (N, C, H, W). Every norm keeps the input shape. A factory that does not
support a `dims` raises `SpaceError` naming the norm and the input layout.

Which norms have parameters (this matters to parameter counts and to codegen):

==========  ==============================================  ===========================
name        what                                            parameters / buffers
==========  ==============================================  ===========================
none        identity                                        none
batch       BatchNorm over the batch (and spatial) axes     2C affine + running stats
layer       per-sample over (C, *spatial), per-channel      2C affine
            affine (LayerNorm(C) on (N, C), else
            GroupNorm(1, C))
group       GroupNorm, up to 32 groups of channels          2C affine
instance    InstanceNorm over spatial axes (dims >= 1)      2C affine, no running stats
==========  ==============================================  ===========================
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from nasforge.errors import SpaceError
from nasforge.registry import Registry

NormFactory = Callable[[int, int], nn.Module]

NORMS: Registry[NormFactory] = Registry("norm")

_LAYOUTS = {0: "(N, C)", 1: "(N, C, L)", 2: "(N, C, H, W)"}


def _unsupported(name: str, dims: int, supported: tuple[int, ...]) -> SpaceError:
    layout = _LAYOUTS.get(dims, f"{dims} spatial axes")
    allowed = ", ".join(_LAYOUTS[d] for d in supported)
    return SpaceError(
        f"Norm {name!r} does not support {layout} inputs; it works on {allowed}. "
        "Choose another norm for this layer."
    )


@NORMS.register("none")
def none(channels: int, dims: int) -> nn.Module:
    """No normalization (nn.Identity); no parameters."""
    return nn.Identity()


@NORMS.register("batch")
def batch(channels: int, dims: int) -> nn.Module:
    """BatchNorm1d for (N, C) and (N, C, L), BatchNorm2d for (N, C, H, W).

    Parameters: weight and bias (2C); buffers: running mean and variance.
    """
    if dims in (0, 1):
        return nn.BatchNorm1d(channels)
    if dims == 2:
        return nn.BatchNorm2d(channels)
    raise _unsupported("batch", dims, (0, 1, 2))


@NORMS.register("layer")
def layer(channels: int, dims: int) -> nn.Module:
    """Per-sample normalization over (C, *spatial) with a per-channel affine.

    LayerNorm(C) for (N, C); GroupNorm(1, C) for (N, C, L) and (N, C, H, W), which normalizes
    over channels and positions together but keeps one weight and bias per channel.
    Parameters: weight and bias (2C).
    """
    if dims == 0:
        return nn.LayerNorm(channels)
    if dims in (1, 2):
        return nn.GroupNorm(1, channels)
    raise _unsupported("layer", dims, (0, 1, 2))


@NORMS.register("group")
def group(channels: int, dims: int) -> nn.Module:
    """GroupNorm with gcd(32, C) groups (32 groups when C is a multiple of 32).

    Parameters: weight and bias (2C).
    """
    if dims not in (0, 1, 2):
        raise _unsupported("group", dims, (0, 1, 2))
    return nn.GroupNorm(math.gcd(32, channels), channels)


@NORMS.register("instance")
def instance(channels: int, dims: int) -> nn.Module:
    """InstanceNorm1d / 2d with affine weight and bias (2C) and no running statistics.

    Needs at least one spatial axis: on (N, C) inputs it would normalize single values.
    """
    if dims == 1:
        return nn.InstanceNorm1d(channels, affine=True)
    if dims == 2:
        return nn.InstanceNorm2d(channels, affine=True)
    raise _unsupported("instance", dims, (1, 2))
