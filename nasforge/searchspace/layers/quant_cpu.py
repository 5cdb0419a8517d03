"""CPU paths of the fake-quant operators: the same arithmetic as PyTorch's, vectorised.

PyTorch's CPU kernels of `fake_quantize_per_channel_affine` and of its learnable (LSQ) variant
are scalar loops; on NAS-sized weights they cost several times the elementwise ops below
(measured: a 256 x 256 weight, 247 us native against 45 us here, forward). On CUDA
`layers/quant.py` calls the native fused operators; on the CPU it calls these, which compute
what the native operators compute (the same rounding: nearbyint of w * (1 / scale)), as the
tests check against them. For activations the native per-tensor kernel stays: at a batch of
64 x 256 it beat an elementwise version (100 us against 145 us, forward and backward).
"""

from __future__ import annotations

import torch


def symmetric_per_channel(w: torch.Tensor, scale: torch.Tensor, qmin: int,
                          qmax: int) -> torch.Tensor:
    """`fake_quantize_per_channel_affine(w, scale, 0, axis 0)` where every value lies inside
    the range (scale = max|w| / qmax per channel): the gradient is the identity."""
    shape = (-1,) + (1,) * (w.dim() - 1)
    d = w.detach()
    step = scale.reshape(shape)
    return torch.round(d * (1.0 / step)).clamp_(qmin, qmax).mul_(step) + (w - d)


class LearnedStepPerChannel(torch.autograd.Function):
    """`torch._fake_quantize_learnable_per_channel_affine` with zero point 0: LSQ on a
    weight (C, ...) with a learnable scale (C,)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int,  # type: ignore
                grad_factor: float) -> torch.Tensor:
        step = scale.reshape((-1,) + (1,) * (w.dim() - 1))
        levels = w * (1.0 / step)
        rounded = torch.round(levels)
        inside = (rounded >= qmin) & (rounded <= qmax)
        clamped = rounded.clamp_(qmin, qmax)
        ctx.save_for_backward(levels, clamped, inside)
        ctx.grad_factor = grad_factor
        return clamped * step

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        levels, clamped, inside = ctx.saved_tensors
        # d out / d scale: round(v) - v inside the range, the clamped level outside
        axes = tuple(range(1, grad.dim()))
        grad_scale = (grad * (clamped - levels * inside)).sum(dim=axes) * ctx.grad_factor
        return grad * inside, grad_scale, None, None, None
