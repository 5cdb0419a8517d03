"""EvoNorm normalization-activation layers (Liu et al. 2020): B0 (batch) and S0 (sample).

Each replaces a norm *and* the activation after it; a family that emits one adds no
separate activation (`LayerSpec.norm_activation`, `specs.norm_activations()`). Both have a
per-channel v, gamma (init 1) and beta (init 0): 3C parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nasforge.searchspace.layers.portable.channels import per_channel


class _EvoNorm(nn.Module):
    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.v = nn.Parameter(torch.ones(channels))
        self.weight = nn.Parameter(torch.ones(channels))  # gamma
        self.bias = nn.Parameter(torch.zeros(channels))  # beta

    def _affine(self, y: torch.Tensor) -> torch.Tensor:
        weight = per_channel(self.weight, y.dim(), y.dtype)
        return y * weight + per_channel(self.bias, y.dim(), y.dtype)


class EvoNormB0(_EvoNorm):
    """y = x / max(sqrt(batch_var + eps), v x + sqrt(instance_var + eps)) * gamma + beta.

    Input and output (N, C, *spatial) with at least one spatial axis. batch_var is the
    (biased) variance of each channel over (N, *spatial) in training, and the running
    variance in eval, updated in training as running = (1 - momentum) running + momentum
    unbiased_batch_var (as BatchNorm does); instance_var is the variance of each sample's
    channel over its positions. Buffer: running_var (C,), init 1.
    """

    running_var: torch.Tensor

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(channels, eps)
        self.momentum = momentum
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"EvoNorm-B0 needs (N, C, *spatial) inputs, got shape "
                             f"{tuple(x.shape)}; use evonorm_s0 on (N, C).")
        spatial = tuple(range(2, x.dim()))
        if self.training:
            batch_var = x.var(dim=(0, *spatial), unbiased=False, keepdim=True)
            count = x.numel() // x.shape[1]
            with torch.no_grad():
                unbiased = batch_var.flatten() * (count / max(count - 1, 1))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        else:
            batch_var = per_channel(self.running_var, x.dim(), x.dtype)
        instance_std = (x.var(dim=spatial, unbiased=False, keepdim=True) + self.eps).sqrt()
        v = per_channel(self.v, x.dim(), x.dtype)
        denominator = torch.maximum((batch_var + self.eps).sqrt(), v * x + instance_std)
        return self._affine(x / denominator)


def s0_groups(channels: int, dims: int) -> int:
    """The group count of EvoNorm-S0 and of group norm: gcd(32, C), fewer on (N, C) so each
    group has 2 values.

    With spatial axes (dims >= 1) every group also spans the positions, so gcd(32, C) groups
    are kept; the layer merges groups at run time if the positions are too few (see
    `EvoNormS0`). On (N, C) the count is halved until each group has >= 2 channels; a single
    channel leaves one group of one value.
    """
    groups = math.gcd(32, channels)
    if dims == 0:
        while groups > 1 and channels // groups < 2:
            groups //= 2
    return groups


class EvoNormS0(_EvoNorm):
    """y = x sigmoid(v x) / sqrt(group_var + eps) * gamma + beta, on (N, C, *spatial).

    group_var is the (biased) variance of each sample over the channels of its group and
    all positions. `groups` must divide C; it is the most groups used: where an input has
    so few positions that a group would hold a single value (a 1 x 1 feature map with one
    channel a group), the largest divisor of `groups` that gives every group >= 2 values is
    used instead. Only a 1-channel input with one position has no variance to take: its
    group_var is 0 (as LayerNorm on one feature). No batch statistics: train and eval agree.
    Works for (N, C), (N, C, L) and (N, C, H, W).
    """

    def __init__(self, channels: int, groups: int, eps: float = 1e-5) -> None:
        super().__init__(channels, eps)
        if groups < 1 or channels % groups:
            raise ValueError(f"groups={groups} must divide channels={channels}")
        self.groups = groups

    def groups_for(self, positions: int) -> int:
        """The groups used for inputs with `positions` values per channel (1 on (N, C))."""
        channels = self.v.numel()
        fits = [g for g in range(self.groups, 0, -1)
                if self.groups % g == 0 and (channels // g) * positions >= 2]
        return fits[0] if fits else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.groups_for(x[0, 0].numel())
        grouped = x.reshape(x.shape[0], groups, -1)  # (N, G, C/G * positions)
        std = (grouped.var(dim=-1, unbiased=False, keepdim=True) + self.eps).sqrt()
        gated = x * torch.sigmoid(per_channel(self.v, x.dim(), x.dtype) * x)
        return self._affine((gated.reshape(grouped.shape) / std).reshape(x.shape))

    def extra_repr(self) -> str:
        return f"{self.v.numel()}, groups={self.groups}, eps={self.eps}"
