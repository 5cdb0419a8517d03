"""The ops of a network plan (torch-free): layers with every size resolved, composite ops
(cells, residual blocks) holding branches of ops, and what each op costs.

Shapes exclude the batch axis. `plan.py` assembles ops into a `NetworkPlan`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from nasforge.searchspace.layer_facts import activation_params, norm_params
from nasforge.searchspace.quantization import FLOAT_BITS, learned_step_params


@dataclass(frozen=True, slots=True)
class Flatten:
    """(C, ...) -> (C * ...,)."""


@dataclass(frozen=True, slots=True)
class Linear:
    """A fully connected layer; `weight_bits` / `act_bits` below 32 make it quantization-aware
    (its weight and its input are fake-quantized; see `nasforge.searchspace.quantization`)."""

    in_features: int
    out_features: int
    bias: bool = True
    weight_bits: int = FLOAT_BITS
    act_bits: int = FLOAT_BITS
    learned_step: bool = False


@dataclass(frozen=True, slots=True)
class Conv:
    """Convolution over `dims` spatial axes (1 or 2), 'same' padding, given stride.

    `groups` > 1 splits the channels into groups (`groups == in_channels`: depthwise);
    `dilation` spaces the kernel taps. Bits as for `Linear`.
    """

    dims: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    bias: bool = True
    groups: int = 1
    dilation: int = 1
    weight_bits: int = FLOAT_BITS
    act_bits: int = FLOAT_BITS
    learned_step: bool = False


@dataclass(frozen=True, slots=True)
class Norm:
    """A normalization layer from the norm registry, over `channels` features.

    `dims` is 0 for (N, C) inputs, 1 for (N, C, L), 2 for (N, C, H, W). A norm-activation
    kind (`layer_facts.NORM_ACTIVATIONS`, e.g. EvoNorm) has no Activation op after it.
    """

    kind: str
    channels: int
    dims: int


@dataclass(frozen=True, slots=True)
class Activation:
    """An activation from the activation registry, applied to `channels` features."""

    kind: str
    channels: int
    dims: int


@dataclass(frozen=True, slots=True)
class Dropout:
    p: float


@dataclass(frozen=True, slots=True)
class Pool:
    """Max or average pooling over `dims` spatial axes with a window of `size`.

    `stride` 0 means stride = size (non-overlapping: s -> s // size); a stride below the size
    pads 'same' (s -> ceil(s / stride); padding is left out of averages).
    """

    kind: str  # "max" | "avg"
    dims: int
    size: int
    stride: int = 0


@dataclass(frozen=True, slots=True)
class GlobalPool:
    """Average over all spatial axes: (C, ...) -> (C,)."""

    dims: int


@dataclass(frozen=True, slots=True)
class Branch:
    """A sub-sequence of ops with the shape after each; no ops is the identity."""

    ops: tuple[Op, ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class CellEdge:
    """Edge `to` <- `source` of a cell: operation `op`, whose ops are `branch`."""

    to: int
    source: int
    op: str
    branch: Branch


@dataclass(frozen=True, slots=True)
class Cell:
    """A DAG cell over (channels, *spatial) features: node 0 is the input, node j the sum of
    its incoming edges, node `nodes - 1` the output; a node without edges is zero. Only the
    edges that exist are listed ("none" edges and dead edges are left out)."""

    nodes: int
    channels: int
    dims: int
    edges: tuple[CellEdge, ...]


@dataclass(frozen=True, slots=True)
class Residual:
    """main(x) + shortcut(x); an empty shortcut is the identity."""

    main: Branch
    shortcut: Branch = Branch()


Op = (Flatten | Linear | Conv | Norm | Activation | Dropout | Pool | GlobalPool | Cell
      | Residual)


def _branches(op: Op) -> tuple[Branch, ...]:
    if isinstance(op, Cell):
        return tuple(edge.branch for edge in op.edges)
    if isinstance(op, Residual):
        return (op.main, op.shortcut)
    return ()


def iter_ops(ops: tuple[Op, ...], shapes: tuple[tuple[int, ...], ...]
             ) -> Iterator[tuple[Op, tuple[int, ...]]]:
    """Every op with its output shape; composite ops (cells, residuals) are yielded and then
    opened, recursively."""
    for op, shape in zip(ops, shapes, strict=True):
        yield op, shape
        for branch in _branches(op):
            yield from iter_ops(branch.ops, branch.shapes)


def layer_macs(op: Op, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one Linear or Conv op for one sample (0 for any other op)."""
    if isinstance(op, Linear):
        return op.in_features * op.out_features
    if isinstance(op, Conv):
        positions = math.prod(out_shape[1:])
        return positions * op.out_channels * (op.in_channels // op.groups) * op.kernel**op.dims
    return 0


def weight_count(op: Linear | Conv) -> int:
    """Elements of the weight tensor (bias excluded)."""
    if isinstance(op, Linear):
        return op.in_features * op.out_features
    return op.out_channels * (op.in_channels // op.groups) * op.kernel**op.dims


def _float_params(op: Op) -> int | None:
    """Parameters kept in 32-bit float: biases, norm and activation parameters."""
    if isinstance(op, Linear | Conv):
        out = op.out_features if isinstance(op, Linear) else op.out_channels
        steps = learned_step_params(op.weight_bits, op.act_bits, out) if op.learned_step else 0
        return (out if op.bias else 0) + steps
    if isinstance(op, Norm):
        return norm_params(op.kind, op.channels, op.dims)
    if isinstance(op, Activation):
        return activation_params(op.kind, op.channels, op.dims)
    return 0
