"""Squeeze-and-excite: a per-channel gate computed from the globally pooled features."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """y = x * gate(up(relu(down(mean(x))))) on (N, C, *spatial) inputs (Hu et al. 2018).

    `down` (C -> `reduced`) and `up` (`reduced` -> C) are 1x1 convolutions with biases over
    the pooled (N, C, 1, ...) features; `gate` is "sigmoid" (SENet, EfficientNet) or
    "hardsigmoid" (MobileNetV3). Parameters: 2 * C * reduced + reduced + C.
    """

    def __init__(self, channels: int, reduced: int, dims: int, gate: str = "sigmoid") -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"SqueezeExcite works over 1 or 2 spatial axes, not {dims}")
        if gate not in ("sigmoid", "hardsigmoid"):
            raise ValueError(f"SqueezeExcite gate {gate!r}: use 'sigmoid' or 'hardsigmoid'")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.down = conv(channels, reduced, 1)
        self.up = conv(reduced, channels, 1)
        self.act = nn.ReLU()
        self.gate = nn.Hardsigmoid() if gate == "hardsigmoid" else nn.Sigmoid()
        self._axes = tuple(range(2, 2 + dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=self._axes, keepdim=True)
        return x * self.gate(self.up(self.act(self.down(pooled))))
