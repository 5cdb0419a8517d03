"""Periodic activations: plain sine and Snake (Ziyin et al. 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nasforge.searchspace.layers.portable.channels import per_channel


class Sin(nn.Module):
    """y = sin(x), elementwise on any shape; no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class Snake(nn.Module):
    """y = x + sin^2(alpha * x) / alpha on (N, C, *) inputs, alpha of shape (C,), init 1.

    Evaluated as x + alpha * x^2 * sinc(alpha * x / pi)^2, which is the same function but
    has no division: it is exact and smooth through alpha = 0 (where y = x and
    dy/dalpha = x^2) and for negative alpha, so a slope that a step drives to (or across)
    zero cannot produce inf or NaN. Parameters: C.
    """

    def __init__(self, channels: int, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = per_channel(self.alpha, x.dim(), x.dtype)
        if torch.onnx.is_in_onnx_export():  # ONNX has no sinc: the same function, divided
            safe = torch.where(alpha == 0, torch.ones_like(alpha), alpha)
            return torch.where(alpha == 0, x, x + torch.sin(safe * x).square() / safe)
        return x + alpha * x.square() * torch.sinc(alpha * x / math.pi).square()
