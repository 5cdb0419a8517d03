'''The fake-quant layers as inline source (the export's copy of `layers/quant.py`).

Training mode keeps nasforge's semantics: moving-average observers through PyTorch's fused
operator, LSQ / LSQ+ learned steps, straight-through gradients. Eval mode is written with
elementary ops (``round(x * (1 / scale)) + zero_point``, clamp, back to float), the arithmetic
of PyTorch's fake-quant kernels, so it matches them and exports to ONNX.
'''

from __future__ import annotations

QUANT = '''
_EPS = 1e-8
_OBSERVER_AVERAGING = 0.01


def _straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """`rounded` in the forward pass, the identity's gradient in the backward pass."""
    return rounded + (x - x.detach())


def _bf16_round(x: torch.Tensor) -> torch.Tensor:
    return _straight_through(x, x.detach().to(torch.bfloat16).to(x.dtype))


def _per_tensor(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int,
                qmax: int) -> torch.Tensor:
    """PyTorch's per-tensor affine fake quantization, written out."""
    levels = (torch.round(x * (1.0 / scale)) + zero_point).clamp(qmin, qmax)
    return (levels - zero_point) * scale


class _LearnedStepPerChannel(torch.autograd.Function):
    """LSQ on a weight (C, ...) with a learnable scale (C,) and zero point 0."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int,
                grad_factor: float) -> torch.Tensor:
        step = scale.reshape((-1,) + (1,) * (w.dim() - 1))
        levels = w * (1.0 / step)
        rounded = torch.round(levels)
        inside = (rounded >= qmin) & (rounded <= qmax)
        clamped = rounded.clamp(qmin, qmax)
        ctx.save_for_backward(levels, clamped, inside)
        ctx.grad_factor = grad_factor
        return clamped * step

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        levels, clamped, inside = ctx.saved_tensors
        axes = tuple(range(1, grad.dim()))
        grad_scale = (grad * (clamped - levels * inside)).sum(dim=axes) * ctx.grad_factor
        return grad * inside, grad_scale, None, None, None


class WeightQuant(nn.Module):
    """Fake-quantizes a weight (C_out, ...): 16 bf16, 2-8 symmetric per output channel
    (scale max|w| / qmax, or learned when `learned_step`), 1 sign(w) x mean|w|."""

    def __init__(self, bits: int, weight: torch.Tensor, learned_step: bool = False) -> None:
        super().__init__()
        self.bits = bits
        self.learned_step = learned_step and 2 <= bits <= 8
        self.axes = tuple(range(1, weight.dim()))
        if 2 <= bits <= 8:
            self.qmin, self.qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
            if self.learned_step:
                with torch.no_grad():
                    init = 2 * weight.abs().mean(dim=self.axes) / math.sqrt(self.qmax)
                self.scale = nn.Parameter(init.clamp_min(_EPS))
                self.grad_factor = 1.0 / math.sqrt(weight[0].numel() * self.qmax)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.bits == 32:
            return w
        if self.bits == 16:
            return _bf16_round(w)
        d = w.detach()
        if self.bits == 1:
            alpha = d.abs().mean(dim=self.axes, keepdim=True).expand_as(d)
            if self.training:
                return _straight_through(w, torch.copysign(alpha, d))
            return torch.where(d < 0, -alpha, alpha)  # copysign but for -0.0; ONNX has no copysign
        shape = (-1,) + (1,) * (w.dim() - 1)
        if self.learned_step:
            if self.training:
                with torch.no_grad():
                    self.scale.clamp_(min=_EPS)
                return _LearnedStepPerChannel.apply(w, self.scale, self.qmin, self.qmax,
                                                    self.grad_factor)
            step = self.scale.reshape(shape)
            return torch.round(w * (1.0 / step)).clamp(self.qmin, self.qmax) * step
        step = (d.abs().amax(dim=self.axes).clamp_min(_EPS) / self.qmax).reshape(shape)
        return torch.round(d * (1.0 / step)).clamp(self.qmin, self.qmax) * step + (w - d)


class ActQuant(nn.Module):
    """Fake-quantizes activations per tensor: 16 bf16; 2-8 affine on 0 .. 2^b - 1 with a
    moving-average min/max observer (or LSQ+ learned scale and offset); 1 the two ends of the
    observed range, cut at their midpoint."""

    def __init__(self, bits: int, learned_step: bool = False) -> None:
        super().__init__()
        self.bits = bits
        self.learned_step = learned_step and 2 <= bits <= 8
        if bits > 8:
            return
        if bits == 1:
            self.register_buffer("running_min", torch.tensor(math.inf))
            self.register_buffer("running_max", torch.tensor(-math.inf))
            return
        self.qmin, self.qmax = 0, 2**bits - 1
        if self.learned_step:
            self.scale = nn.Parameter(torch.ones(1))
            self.offset = nn.Parameter(torch.zeros(1))
            self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
            return
        self.register_buffer("running_min", torch.tensor(math.inf))
        self.register_buffer("running_max", torch.tensor(-math.inf))
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("zero_point", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("on", torch.ones(1, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits == 32:
            return x
        if self.bits == 16:
            return _bf16_round(x)
        dtype = x.dtype
        x = x.float()
        if self.bits == 1:
            y = self._binary(x)
        elif self.learned_step:
            y = self._learned(x)
        elif self.training:
            y = torch.fused_moving_avg_obs_fake_quant(
                x, self.on, self.on, self.running_min, self.running_max, self.scale,
                self.zero_point, _OBSERVER_AVERAGING, self.qmin, self.qmax, -1, False, False)
        else:
            y = _per_tensor(x, self.scale, self.zero_point.float(), self.qmin, self.qmax)
        return y.to(dtype)

    def _learned(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            zero_point = torch.round(self.offset.clamp(self.qmin, self.qmax))
            return _per_tensor(x, self.scale, zero_point, self.qmin, self.qmax)
        with torch.no_grad():
            if not bool(self.initialized):  # scale and offset from the first batch's range
                low, high = torch.aminmax(x)
                low, high = low.clamp(max=0.0), high.clamp(min=0.0)
                scale = ((high - low) / (self.qmax - self.qmin)).clamp_min(_EPS)
                self.scale.copy_(scale.reshape(1))
                self.offset.copy_((self.qmin - low / scale).reshape(1))
                self.initialized.fill_(True)
            self.scale.clamp_(min=_EPS)
        grad_factor = 1.0 / math.sqrt(max(1, x[0].numel()) * self.qmax)
        return torch._fake_quantize_learnable_per_tensor_affine(
            x, self.scale, self.offset, self.qmin, self.qmax, grad_factor)

    def _binary(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                low, high = torch.aminmax(x)
                for running, new in ((self.running_min, low), (self.running_max, high)):
                    running.copy_(torch.where(torch.isinf(running), new,
                                              running.lerp(new, _OBSERVER_AVERAGING)))
        low, high = self.running_min, self.running_max
        low = torch.where(torch.isinf(low), -1.0, low)  # never observed: [-1, 1], sign(x)
        high = torch.where(torch.isinf(high), 1.0, high)
        clipped = x.clamp(low, high)
        levels = torch.where(x.detach() >= (low + high) / 2, high, low)
        return _straight_through(clipped, levels)


class QuantLinear(nn.Linear):
    """nn.Linear whose input and weight are fake-quantized: (N, in) -> (N, out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 weight_bits: int = 32, act_bits: int = 32, learned_step: bool = False) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.input_quant = ActQuant(act_bits, learned_step)
        self.weight_quant = WeightQuant(weight_bits, self.weight, learned_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quant(x), self.weight_quant(self.weight), self.bias)
'''

QUANT_CONV = '''
class QuantConv{dims}d(nn.Conv{dims}d):
    """nn.Conv{dims}d whose input and weight are fake-quantized."""

    def __init__(self, *args: object, weight_bits: int = 32, act_bits: int = 32,
                 learned_step: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.input_quant = ActQuant(act_bits, learned_step)
        self.weight_quant = WeightQuant(weight_bits, self.weight, learned_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quant(x), self.weight_quant(self.weight),
                                  self.bias)
'''
