"""RMSNorm over the channel axis, for (N, C) and (N, C, *spatial) inputs alike."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.searchspace.layers.portable.channels import per_channel


class ChannelRMSNorm(nn.Module):
    """y = x / sqrt(mean_c(x^2) + eps) * weight on (N, C, *) inputs, weight of shape (C,).

    The mean is over the C channels of each sample and position (axis 1), so on (N, C) this
    is RMSNorm over the features. No mean subtraction, no bias: C parameters, no buffers.
    Written out rather than nn.RMSNorm, which needs torch >= 2.4 and normalizes last axes.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)
        return x * scale * per_channel(self.weight, x.dim(), x.dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}"
