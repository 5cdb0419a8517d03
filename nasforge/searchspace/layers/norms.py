"""The normalization registry: name -> factory ``(channels, dims) -> nn.Module``.

`dims` is the number of spatial axes after the channel axis: 0 for (N, C) inputs, 1 for
(N, C, L), 2 for (N, C, H, W). Every norm keeps the input shape. A factory that does not
support a `dims` raises `SpaceError` naming the norm and the input layout.

Which norms have parameters (this matters to parameter counts and to codegen; the counts are
also in the torch-free `nasforge.searchspace.layer_facts`):

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
rms         RMSNorm over the channels of each position      C weight, no bias
ibn         IBN-Net: InstanceNorm on the first half of the  2C affine + the batch
            channels, BatchNorm on the rest (dims >= 1)     half's running stats
evonorm_b0  EvoNorm-B0 norm-activation, batch variance      3C (v, gamma, beta) +
            and instance variance (dims >= 1)               running variance
evonorm_s0  EvoNorm-S0 norm-activation, x sigmoid(v x)      3C (v, gamma, beta)
            over group std (gcd(32, C) groups)
==========  ==============================================  ===========================

evonorm_b0 and evonorm_s0 are normalization-*activation* layers: they stand for the norm and
the activation after it (`LayerSpec.norm_activation` in `layer_specs.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nasforge.errors import SpaceError
from nasforge.searchspace import specs
from nasforge.searchspace.layers.portable.evonorm import EvoNormB0, EvoNormS0, s0_groups
from nasforge.searchspace.layers.portable.ibn import IBN
from nasforge.searchspace.layers.portable.rms import ChannelRMSNorm

NormFactory = Callable[[int, int], nn.Module]

NORMS = specs.NORMS  # name -> LayerSpec; the manifest is `searchspace/layer_specs.py`

_LAYOUTS = {0: "(N, C)", 1: "(N, C, L)", 2: "(N, C, H, W)"}


def _unsupported(name: str, dims: int, supported: tuple[int, ...],
                 hint: str = "Choose another norm for this layer.") -> SpaceError:
    layout = _LAYOUTS.get(dims, f"{dims} spatial axes")
    allowed = ", ".join(_LAYOUTS[d] for d in supported)
    return SpaceError(f"Norm {name!r} does not support {layout} inputs; it works on {allowed}. "
                      + hint)


def none(channels: int, dims: int) -> nn.Module:
    """No normalization (nn.Identity); no parameters."""
    return nn.Identity()


def batch(channels: int, dims: int) -> nn.Module:
    """BatchNorm1d for (N, C) and (N, C, L), BatchNorm2d for (N, C, H, W).

    Parameters: weight and bias (2C); buffers: running mean and variance.
    """
    if dims in (0, 1):
        return nn.BatchNorm1d(channels)
    if dims == 2:
        return nn.BatchNorm2d(channels)
    raise _unsupported("batch", dims, (0, 1, 2))


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


def group(channels: int, dims: int) -> nn.Module:
    """GroupNorm with gcd(32, C) groups (32 groups when C is a multiple of 32); on (N, C)
    inputs at most C / 2 groups, so that every group normalizes at least two values (one value
    a group would make the output a constant).

    Parameters: weight and bias (2C).
    """
    if dims not in (0, 1, 2):
        raise _unsupported("group", dims, (0, 1, 2))
    return nn.GroupNorm(s0_groups(channels, dims), channels)


def instance(channels: int, dims: int) -> nn.Module:
    """InstanceNorm1d / 2d with affine weight and bias (2C) and no running statistics.

    Needs at least one spatial axis: on (N, C) inputs it would normalize single values.
    """
    if dims == 1:
        return nn.InstanceNorm1d(channels, affine=True)
    if dims == 2:
        return nn.InstanceNorm2d(channels, affine=True)
    raise _unsupported("instance", dims, (1, 2))


def rms(channels: int, dims: int) -> nn.Module:
    """RMSNorm over the channel axis of each sample (and position), eps 1e-6.

    Parameters: weight (C), no bias, no buffers.
    """
    if dims not in (0, 1, 2):
        raise _unsupported("rms", dims, (0, 1, 2))
    return ChannelRMSNorm(channels, eps=1e-6)


def ibn(channels: int, dims: int) -> nn.Module:
    """IBN-Net: affine InstanceNorm on the first max(1, C // 2) channels, BatchNorm on the rest.

    Parameters: 2C; buffers: the batch half's running statistics. Needs spatial axes.
    """
    if dims not in (1, 2):
        raise _unsupported("ibn", dims, (1, 2))
    return IBN(channels, dims)


def evonorm_b0(channels: int, dims: int) -> nn.Module:
    """EvoNorm-B0 normalization-activation (replaces norm + activation), eps 1e-5.

    Parameters: v, gamma, beta (3C); buffer: running variance (momentum 0.1). Needs spatial
    axes for its instance variance.
    """
    if dims not in (1, 2):
        raise _unsupported("evonorm_b0", dims, (1, 2),
                           "Its instance variance needs spatial axes; use 'evonorm_s0' for "
                           "MLP layers.")
    return EvoNormB0(channels)


def evonorm_s0(channels: int, dims: int) -> nn.Module:
    """EvoNorm-S0 normalization-activation (replaces norm + activation), eps 1e-5.

    Parameters: v, gamma, beta (3C); no buffers. gcd(32, C) groups, fewer where a group
    would hold a single value (see `EvoNormS0`).
    """
    if dims not in (0, 1, 2):
        raise _unsupported("evonorm_s0", dims, (0, 1, 2))
    return EvoNormS0(channels, s0_groups(channels, dims))
