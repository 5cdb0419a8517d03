"""Conv: a 'same' convolution, (N, C_in, *s) -> (N, C_out, *ceil(s / stride)).

An odd dilated kernel span pads symmetrically inside the conv; an even one pads
`same_padding(...).before` / `.after` with a zero pad in front, and the op's module is then
``nn.Sequential(ZeroPad, Conv)`` (state_dict keys ``i.1.weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from nasforge.searchspace.layers.quant import QuantConv1d, QuantConv2d
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.ops.padding import same_padding
from nasforge.searchspace.plan_ops import Conv
from nasforge.searchspace.quantization import FLOAT_BITS

CONVS: Mapping[int, Callable[..., nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d}
QUANT_CONVS: Mapping[int, Callable[..., nn.Module]] = {1: QuantConv1d, 2: QuantConv2d}
PADS: Mapping[int, Callable[..., nn.Module]] = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d}


def build(op: Conv, ctx: BuildCtx) -> nn.Module:
    quantized = not op.weight_bits == op.act_bits == FLOAT_BITS
    conv_cls = QUANT_CONVS[op.dims] if quantized else CONVS[op.dims]
    bits = ({"weight_bits": op.weight_bits, "act_bits": op.act_bits,
             "learned_step": op.learned_step} if quantized else {})
    common = {"stride": op.stride, "dilation": op.dilation, "groups": op.groups,
              "bias": op.bias, **bits}
    padding = same_padding(op.kernel, op.dilation)
    if not padding.asymmetric:
        return conv_cls(op.in_channels, op.out_channels, op.kernel,
                        padding=padding.symmetric, **common)
    conv = conv_cls(op.in_channels, op.out_channels, op.kernel, padding=0, **common)
    return nn.Sequential(PADS[op.dims](padding.pad(op.dims)), conv)


def check(op: Conv) -> str | None:
    if (op.dims not in CONVS or op.kernel < 1 or op.stride < 1 or op.dilation < 1
            or op.groups < 1 or op.in_channels % op.groups or op.out_channels % op.groups):
        return (f"it has dims={op.dims}, kernel={op.kernel}, stride={op.stride}, "
                f"dilation={op.dilation}, groups={op.groups}; convolutions need dims 1 or 2, "
                "kernel, stride and dilation of at least 1, and groups dividing the channels.")
    return None
