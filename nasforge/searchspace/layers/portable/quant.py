"""Quantization-aware training: fake quantizers and the Linear / Conv layers that use them.

The levels (torch-free twins in `nasforge.searchspace.quantization`; a test checks they
agree): 32 float, 16 a bf16 round trip, 2-8 integers (weights symmetric per output channel
on ``-(2^(b-1)-1) .. 2^(b-1)-1``, activations affine per tensor on ``0 .. 2^b - 1``), 1
binary. Every quantizer is a fake quantizer: the forward pass rounds values onto the grid
(and back to float), the backward pass lets gradients through unchanged inside the grid's
range (the straight-through estimator). PyTorch's native fused operators do the work, except
for weights on the CPU, where `symmetric_per_channel` and `LearnedStepPerChannel` compute
the same with vectorised ops (the native CPU kernel is a scalar loop, five times slower on a
256 x 256 weight):

- weights, 2-8 bits: `torch.fake_quantize_per_channel_affine`, symmetric, scale
  ``max|w| / qmax`` per output channel (every weight inside the range, so every gradient
  passes); learned step (LSQ, Esser et al. 2020): one learnable scale per output channel;
- activations, 2-8 bits: `torch.fused_moving_avg_obs_fake_quant` (observer and fake
  quantization in one kernel; the observer updates only in training mode), affine per
  tensor; learned step (LSQ+): `torch._fake_quantize_learnable_per_tensor_affine` with a
  learnable scale and offset initialised from the first training batch;
- 1-bit weights: sign(w) x mean|w| per output channel; 1-bit activations: the moving-average
  min and max of the range, cut at its midpoint (sign, for a symmetric range), clipped
  straight-through gradient; 16 bits: a round trip through bf16.

This module is portable: `nasforge export` inlines it into model.py. While exporting to ONNX
(which has none of the fused operators nor copysign) eval mode is computed with elementary
ops that equal the fused kernels: ``round(x * (1 / scale)) + zero_point``, clamp, back.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

FLOAT_BITS = 32
BF16_BITS = 16
BIT_WIDTHS = (32, 16, 8, 4, 2, 1)
_EPS = 1e-8
#: Weight of the newest batch in the moving-average min/max of an activation observer.
OBSERVER_AVERAGING = 0.01


def weight_grid(bits: int) -> tuple[int, int]:
    """Integer range of a symmetric weight quantizer with `bits` in 2..8 (narrow range)."""
    top = 2 ** (bits - 1) - 1
    return -top, top


def act_grid(bits: int) -> tuple[int, int]:
    """Integer range of an affine activation quantizer with `bits` in 2..8."""
    return 0, 2**bits - 1


def _checked(bits: int, what: str) -> int:
    if isinstance(bits, bool) or bits not in BIT_WIDTHS:
        raise ValueError(f"{what} = {bits!r} is not a supported bit width; use one of "
                         f"{', '.join(map(str, BIT_WIDTHS))} (32: float, 16: bfloat16).")
    return int(bits)


def straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """`rounded` exactly in the forward pass (x - x.detach() is an exact zero), the
    identity's gradient in the backward pass."""
    return rounded + (x - x.detach())


def bf16_round(x: torch.Tensor) -> torch.Tensor:
    return straight_through(x, x.detach().to(torch.bfloat16).to(x.dtype))


def _per_tensor(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int,
                qmax: int) -> torch.Tensor:
    """PyTorch's per-tensor affine fake quantization, written out (for ONNX)."""
    levels = (torch.round(x * (1.0 / scale)) + zero_point).clamp(qmin, qmax)
    return (levels - zero_point) * scale


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
    def forward(ctx: Any, w: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int,
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
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        levels, clamped, inside = ctx.saved_tensors
        # d out / d scale: round(v) - v inside the range, the clamped level outside
        axes = tuple(range(1, grad.dim()))
        grad_scale = (grad * (clamped - levels * inside)).sum(dim=axes) * ctx.grad_factor
        return grad * inside, grad_scale, None, None, None


def fake_quant_weight(w: torch.Tensor, bits: int, zero_point: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """Fake-quantize a weight (C_out, ...) per output channel with a fixed step: bf16 (16),
    binary (1: sign x mean|w|) or the symmetric 2-8 bit grid (scale max|w| / qmax).
    `zero_point`: int32 zeros (C_out,) for the CUDA kernel (made when None)."""
    if bits == FLOAT_BITS:
        return w
    if bits == BF16_BITS:
        return bf16_round(w)
    axes = tuple(range(1, w.dim()))
    d = w.detach()
    if bits == 1:
        alpha = d.abs().mean(dim=axes, keepdim=True).expand_as(d)
        if torch.onnx.is_in_onnx_export():  # copysign but for -0.0; ONNX has no copysign
            return torch.where(d < 0, -alpha, alpha)
        return straight_through(w, torch.copysign(alpha, d))  # +0 -> +alpha
    qmin, qmax = weight_grid(bits)
    scale = d.abs().amax(dim=axes).clamp_min_(_EPS).div_(qmax)
    if w.device.type == "cuda":
        if zero_point is None:
            zero_point = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale, zero_point, 0, qmin, qmax)
    return symmetric_per_channel(w, scale, qmin, qmax)


class WeightQuant(nn.Module):
    """Fake-quantizes a weight (C_out, ...) to `bits`; holds the LSQ scales when learned."""

    zero_point_float: torch.Tensor

    def __init__(self, bits: int, weight: torch.Tensor, learned_step: bool = False) -> None:
        super().__init__()
        self.bits = _checked(bits, "weight bits")
        self.learned_step = learned_step and 2 <= bits <= 8
        self._axes = tuple(range(1, weight.dim()))
        if 2 <= bits <= 8:
            self.qmin, self.qmax = weight_grid(bits)
            channels = weight.shape[0]
            self.register_buffer("zero_point", torch.zeros(channels, dtype=torch.int32),
                                 persistent=False)
            if self.learned_step:
                with torch.no_grad():  # LSQ init: 2 mean|w| / sqrt(qmax) per channel
                    init = 2 * weight.abs().mean(dim=self._axes) / math.sqrt(self.qmax)
                self.scale = nn.Parameter(init.clamp_min(_EPS))
                self.register_buffer("zero_point_float", torch.zeros(channels),
                                     persistent=False)
                self._grad_factor = 1.0 / math.sqrt(weight[0].numel() * self.qmax)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.learned_step:
            return fake_quant_weight(w, self.bits, getattr(self, "zero_point", None))
        if torch.onnx.is_in_onnx_export():
            step = self.scale.clamp_min(_EPS).reshape((-1,) + (1,) * (w.dim() - 1))
            return torch.round(w * (1.0 / step)).clamp(self.qmin, self.qmax) * step
        with torch.no_grad():
            self.scale.clamp_(min=_EPS)  # a step size stays positive (torch.ao does too)
        if w.device.type == "cuda":
            return torch._fake_quantize_learnable_per_channel_affine(
                w, self.scale, self.zero_point_float, 0, self.qmin, self.qmax,
                self._grad_factor)
        return LearnedStepPerChannel.apply(w, self.scale, self.qmin, self.qmax,
                                           self._grad_factor)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, learned_step={self.learned_step}"


class ActQuant(nn.Module):
    """Fake-quantizes activations (N, ...) per tensor to `bits` (32: the identity)."""

    # buffers (which of them exist depends on `bits` and `learned_step`)
    running_min: torch.Tensor
    running_max: torch.Tensor
    zero_point: torch.Tensor
    initialized: torch.Tensor
    _on: torch.Tensor
    _off: torch.Tensor

    def __init__(self, bits: int, learned_step: bool = False) -> None:
        super().__init__()
        self.bits = _checked(bits, "activation bits")
        self.learned_step = learned_step and 2 <= bits <= 8
        if bits > 8:
            return
        if bits == 1:  # binary: the two ends of the observed range, cut at its midpoint
            self.register_buffer("running_min", torch.tensor(math.inf))
            self.register_buffer("running_max", torch.tensor(-math.inf))
            return
        self.qmin, self.qmax = act_grid(bits)
        if self.learned_step:
            self.scale = nn.Parameter(torch.ones(1))
            self.offset = nn.Parameter(torch.zeros(1))  # the zero point, learned (LSQ+)
            self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
            self._ready = False
            return
        self.register_buffer("running_min", torch.tensor(math.inf))
        self.register_buffer("running_max", torch.tensor(-math.inf))
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("zero_point", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("_on", torch.ones(1, dtype=torch.long), persistent=False)
        self.register_buffer("_off", torch.zeros(1, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits == FLOAT_BITS:
            return x
        if self.bits == BF16_BITS:
            return bf16_round(x)
        dtype = x.dtype
        x = x.float()
        if self.bits == 1:
            y = self._binary(x)
        elif torch.onnx.is_in_onnx_export() and not self.training:
            y = self._elementary(x)
        elif self.learned_step:
            if not self._ready and self.training:
                self._initialize(x)
            with torch.no_grad():
                self.scale.clamp_(min=_EPS)  # a step size stays positive (torch.ao does too)
            y = torch._fake_quantize_learnable_per_tensor_affine(
                x, self.scale, self.offset, self.qmin, self.qmax, self._grad_factor(x))
        else:
            observe = self._on if self.training else self._off
            y = torch.fused_moving_avg_obs_fake_quant(
                x, observe, self._on, self.running_min, self.running_max, self.scale,
                self.zero_point, OBSERVER_AVERAGING, self.qmin, self.qmax, -1, False, False)
        return y.to(dtype)

    def _elementary(self, x: torch.Tensor) -> torch.Tensor:
        """Eval mode with elementary ops, as the fused kernels compute it."""
        if self.learned_step:
            zero_point = torch.round(self.offset.clamp(self.qmin, self.qmax))
            return _per_tensor(x, self.scale.clamp_min(_EPS), zero_point, self.qmin,
                               self.qmax)
        return _per_tensor(x, self.scale, self.zero_point.float(), self.qmin, self.qmax)

    def _binary(self, x: torch.Tensor) -> torch.Tensor:
        """Two levels, the moving-average min and max (the first batch sets them), cut at
        their midpoint: sign(x) for a range symmetric about zero, {0, max} after a ReLU.
        The gradient passes inside the range (clipped straight-through estimator); no host
        synchronisation."""
        if self.training:
            with torch.no_grad():
                low, high = torch.aminmax(x)
                for running, new in ((self.running_min, low), (self.running_max, high)):
                    running.copy_(torch.where(torch.isinf(running), new,
                                              running.lerp(new, OBSERVER_AVERAGING)))
        low, high = self.running_min, self.running_max
        low = torch.where(torch.isinf(low), -1.0, low)  # never observed: [-1, 1], sign(x)
        high = torch.where(torch.isinf(high), 1.0, high)
        clipped = x.clamp(low, high)
        levels = torch.where(x.detach() >= (low + high) / 2, high, low)
        return straight_through(clipped, levels)

    def _grad_factor(self, x: torch.Tensor) -> float:
        return 1.0 / math.sqrt(max(1, x[0].numel()) * self.qmax)

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        """Scale and offset from the first training batch's range (stays on the device)."""
        low, high = torch.aminmax(x.detach())
        low, high = low.clamp(max=0.0), high.clamp(min=0.0)  # the grid always holds zero
        scale = ((high - low) / (self.qmax - self.qmin)).clamp_min(_EPS)
        self.scale.copy_(scale.reshape(1))
        self.offset.copy_((self.qmin - low / scale).reshape(1))
        self.initialized.fill_(True)
        self._ready = True

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.learned_step:
            self._ready = bool(self.initialized)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, learned_step={self.learned_step}"


class QuantLinear(nn.Linear):
    """nn.Linear whose input and weight are fake-quantized: (N, in) -> (N, out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 weight_bits: int = FLOAT_BITS, act_bits: int = FLOAT_BITS,
                 learned_step: bool = False) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.input_quant = ActQuant(act_bits, learned_step)
        self.weight_quant = WeightQuant(weight_bits, self.weight, learned_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quant(x), self.weight_quant(self.weight), self.bias)


class _Conv(Protocol):
    """What `_QuantConv` uses of the nn.ConvNd it is mixed into, and sets up."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    input_quant: ActQuant
    weight_quant: WeightQuant

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor: ...


class _QuantConv:
    """Mixin: the input and weight of an nn.ConvNd are fake-quantized before the convolution."""

    def _setup_quant(self: _Conv, weight_bits: int, act_bits: int, learned_step: bool) -> None:
        self.input_quant = ActQuant(act_bits, learned_step)
        self.weight_quant = WeightQuant(weight_bits, self.weight, learned_step)

    def forward(self: _Conv, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quant(x), self.weight_quant(self.weight), self.bias)


class QuantConv1d(_QuantConv, nn.Conv1d):
    """(N, C_in, L) -> (N, C_out, L'), quantization-aware."""

    def __init__(self, *args: Any, weight_bits: int = FLOAT_BITS, act_bits: int = FLOAT_BITS,
                 learned_step: bool = False, **kwargs: Any) -> None:
        nn.Conv1d.__init__(self, *args, **kwargs)
        self._setup_quant(weight_bits, act_bits, learned_step)


class QuantConv2d(_QuantConv, nn.Conv2d):
    """(N, C_in, H, W) -> (N, C_out, H', W'), quantization-aware."""

    def __init__(self, *args: Any, weight_bits: int = FLOAT_BITS, act_bits: int = FLOAT_BITS,
                 learned_step: bool = False, **kwargs: Any) -> None:
        nn.Conv2d.__init__(self, *args, **kwargs)
        self._setup_quant(weight_bits, act_bits, learned_step)
