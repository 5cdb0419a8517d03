"""The elastic rule of the Conv op (``nasforge.supernet.conv:CONV``): dense convolutions of
any stride (`rules.ConvSlice`: the first channels, the centre crop of the largest kernel) and
depthwise ones (groups == channels), Once-for-All's elastic kernel.

A depthwise slot holds one (C, 1, K, ...) weight of the largest kernel K; a subnet of C' <= C
channels reads its first C' filters (elastic expansion). A smaller kernel k is reached
through each odd size in turn (K -> K-2 -> ... -> k): the centre crop of the current kernel,
flattened to (C', s^dims), times a learned (s^dims x s^dims) transformation matrix of that
slot and size, shared across channels and initialised to the identity (OFA's kernel
transformation: a 5x5 kernel is not just the centre of the 7x7 one). `extract` copies the
transformed kernel into the plain subnet's conv.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nasforge.errors import ConfigError
from nasforge.searchspace.layers.quant import fake_quant_weight
from nasforge.searchspace.ops.padding import same_padding
from nasforge.supernet.rules import ConvSlice, SlotShape, Step

if TYPE_CHECKING:
    from nasforge.supernet.model import Supernet

Kernel = Callable[[torch.Tensor, nn.ParameterDict], torch.Tensor]


def is_depthwise(op: Any) -> bool:
    return bool(op.groups == op.in_channels == op.out_channels)


def transform_key(slot: str, size: int) -> str:
    """The kernel transformation of `slot` that maps a `size` crop (OFA: 7 -> 5, 5 -> 3)."""
    return f"{slot}__to{size}"


class ElasticConv(ConvSlice):
    """Dense convolutions (groups 1) of any stride, and depthwise ones with learned kernel
    transformations; odd kernels, no dilation."""

    def slot_shape(self, op: Any, slot: str) -> SlotShape:
        depthwise = is_depthwise(op)
        if op.dilation != 1 or not (op.groups == 1 or depthwise) or \
                same_padding(op.kernel, op.dilation).asymmetric:
            raise ConfigError(f"The supernet shares odd-kernel convolutions without dilation, "
                              f"dense or depthwise (groups == channels); slot {slot} has {op}. "
                              "Give the space odd kernels, or use another strategy.")
        return SlotShape(self, op.out_channels, 1 if depthwise else op.in_channels, op.kernel,
                         op.dims, depthwise=depthwise)

    def reference(self, shape: SlotShape) -> nn.Module:
        groups = shape.out if shape.depthwise else 1
        return self._MODULES[shape.dims](shape.in_ * groups, shape.out, shape.kernel,
                                         groups=groups)

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        super().make(net, slot, shape)
        if shape.rule is self and shape.depthwise:
            for size in range(shape.kernel - 2, 0, -2):
                net.kernel_transforms[transform_key(slot, size)] = nn.Parameter(
                    torch.eye(size ** shape.dims))

    def function(self, op: Any) -> Callable[..., torch.Tensor]:
        conv, padding = self._FUNCTIONS[op.dims], same_padding(op.kernel, op.dilation).symmetric
        stride, groups = op.stride, op.groups
        return lambda x, w, b: conv(x, w, b, stride, padding, 1, groups)

    def kernel(self, op: Any, slot: str, largest: int) -> Kernel:
        """(shared weight, transformations) -> the depthwise op's kernel."""
        channels, dims = op.out_channels, op.dims
        chain = [(size, transform_key(slot, size)) for size in range(largest - 2, op.kernel - 1,
                                                                      -2)]

        def kernel(shared: torch.Tensor, transforms: nn.ParameterDict) -> torch.Tensor:
            w = shared[:channels]
            for size, key in chain:
                w = w[(slice(None), slice(None)) + (slice(1, size + 1),) * dims]
                flat = w.reshape(channels, size ** dims) @ transforms[key].t()
                w = flat.reshape(channels, 1, *(size,) * dims)
            return w
        return kernel

    def weight(self, net: Supernet, op: Any, slot: str) -> torch.Tensor:
        if not is_depthwise(op):
            return super().weight(net, op, slot)
        shared = net.weights[slot]
        return self.kernel(op, slot, shared.shape[-1])(shared, net.kernel_transforms)

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        if not is_depthwise(op):
            return super().step(net, op, slot)
        weights, biases, transforms = net.weights, net.biases, net.kernel_transforms
        kernel, function = self.kernel(op, slot, weights[slot].shape[-1]), self.function(op)
        bits, out, bias, quant = op.weight_bits, op.out_channels, op.bias, \
            self._quant(net, op, slot)

        def step(x: torch.Tensor, training: bool) -> torch.Tensor:
            if quant is not None:
                x = quant(x)
            w = fake_quant_weight(kernel(weights[slot], transforms), bits)
            return function(x, w, biases[slot][:out] if bias else None)
        return step


CONV = ElasticConv()
