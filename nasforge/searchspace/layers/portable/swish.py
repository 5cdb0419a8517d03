"""Swish with a learnable slope: x * sigmoid(beta * x), one beta per channel."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.searchspace.layers.portable.channels import per_channel


class Swish(nn.Module):
    """y = x * sigmoid(beta * x) on (N, C, *) inputs, beta of shape (C,) initialised to 1.

    At beta = 1 this is SiLU (the fixed `silu` activation); beta -> 0 tends to x / 2 and
    beta -> inf to ReLU (Ramachandran et al. 2017). Parameters: C.
    """

    def __init__(self, channels: int, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((channels,), float(beta)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(per_channel(self.beta, x.dim(), x.dtype) * x)
