"""Resize: the antialiased interpolation of the spatial axes as fixed matrix products.

Antialiased bilinear (or bicubic) interpolation is linear and separable, so each axis is one
(out, in) matrix, made once from ``F.interpolate`` of the identity. The products give
``F.interpolate(x, size, mode, antialias=True, align_corners=False)`` and, unlike it, export
to ONNX (a MatMul; the antialiased kernel has no ONNX export) and stack over models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def resize_matrix(in_size: int, out_size: int, mode: str = "bilinear") -> torch.Tensor:
    """(out_size, in_size): row i holds the weights of the inputs output i averages."""
    # the identity along the last axis, two rows high (an axis of size 1 takes another path
    # through the antialiased kernel, which disagrees with the 2-D resize)
    basis = torch.eye(in_size, dtype=torch.float64).view(in_size, 1, 1, in_size)
    out = F.interpolate(basis.expand(in_size, 1, 2, in_size), size=(2, out_size), mode=mode,
                        align_corners=False, antialias=True)
    return out[:, 0, 0, :].t().contiguous().float()


class Resize(nn.Module):
    """(N, C, *in_size) -> (N, C, *size): each spatial axis resized by its matrix (buffers
    made at construction, not saved in the state dict)."""

    matrix0: torch.Tensor
    matrix1: torch.Tensor

    def __init__(self, in_size: tuple[int, ...], size: tuple[int, ...],
                 mode: str = "bilinear") -> None:
        super().__init__()
        self.in_size, self.size, self.mode = tuple(in_size), tuple(size), mode
        if len(self.in_size) not in (1, 2) or len(self.size) != len(self.in_size):
            raise ValueError(f"Resize takes 1 or 2 spatial axes, got {in_size} -> {size}.")
        for axis, (n_in, n_out) in enumerate(zip(self.in_size, self.size, strict=True)):
            self.register_buffer(f"matrix{axis}", resize_matrix(n_in, n_out, mode),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.size) == 1:
            return torch.matmul(x, self.matrix0.t())
        return torch.matmul(torch.matmul(self.matrix0, x), self.matrix1.t())

    def extra_repr(self) -> str:
        return f"in_size={self.in_size}, size={self.size}, mode={self.mode!r}"
