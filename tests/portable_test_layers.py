"""Portable layer classes (torch only) for tests/test_extend.py."""

from __future__ import annotations

import torch
from torch import nn


class Square(nn.Module):
    """Square of x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


class Gain(nn.Module):
    """A per-channel gain."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.view(1, -1, *([1] * (x.dim() - 2)))
