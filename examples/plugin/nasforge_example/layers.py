"""The plugin's layers, in a portable module: it imports only torch (and math / typing), so
`nasforge export` copies its text into model.py and the exported model never needs this
plugin."""

from __future__ import annotations

import torch
from torch import nn


class SquaredReLU(nn.Module):
    """Squared ReLU: max(x, 0)^2 (So et al., Primer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x).square()


class ScaledRMSNorm(nn.Module):
    """RMS norm over the channel axis with a learnable per-channel gain and one shared scale."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.scale = nn.Parameter(torch.ones(()))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.square().mean(dim=1, keepdim=True).add(self.eps).rsqrt()
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * rms * self.gain.view(shape) * self.scale
