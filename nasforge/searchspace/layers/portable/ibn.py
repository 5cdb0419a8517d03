"""IBN-Net's mixed normalization (Pan et al. 2018): instance norm on half the channels."""

from __future__ import annotations

import torch
from torch import nn


class IBN(nn.Module):
    """InstanceNorm (affine) on channels [0, k), BatchNorm on [k, C), k = max(1, C // 2).

    Input (N, C, L) for `dims` 1, (N, C, H, W) for `dims` 2; output the same shape. Instance
    normalization removes per-sample style (contrast) from the first half and batch
    normalization keeps the rest discriminative. Parameters: 2C (both halves affine);
    buffers: the batch half's running mean and variance. With C = 1 only the instance half
    exists.
    """

    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"IBN needs 1 or 2 spatial axes, got dims={dims}")
        self.split = max(1, channels // 2)
        instance_norm = nn.InstanceNorm1d if dims == 1 else nn.InstanceNorm2d
        batch_norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.instance = instance_norm(self.split, affine=True)
        rest = channels - self.split
        self.batch = batch_norm(rest) if rest else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None:
            return self.instance(x)
        first, rest = torch.split(x, [self.split, x.shape[1] - self.split], dim=1)
        return torch.cat([self.instance(first), self.batch(rest)], dim=1)
