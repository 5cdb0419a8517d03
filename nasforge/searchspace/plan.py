"""NetworkPlan: a torch-free description of the network an architecture stands for.

A family turns (architecture, DataSpec) into a plan: a sequence of layer ops with every shape
resolved. Everything downstream reads the plan rather than the architecture:

- `build.py` turns it into an `nn.Module` (the only torch step);
- `codegen.py` turns it into standalone PyTorch source;
- MACs are counted from it here, without torch, so strategies and the dashboard can use cost;
- the fused evaluator groups candidates whose plans share a structure.

Shapes exclude the batch axis: (features,) for vectors, (channels, length) for sequences,
(channels, height, width) for images.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from nasforge.errors import DataError
from nasforge.searchspace.layer_facts import NORM_ACTIVATIONS, activation_params, norm_params
from nasforge.searchspace.quantization import FLOAT, FLOAT_BITS, LayerBits, learned_step_params


@dataclass(frozen=True, slots=True)
class DataSpec:
    """What a network must fit: input shape (no batch axis), task and number of outputs."""

    input_shape: tuple[int, ...]
    num_outputs: int
    task: str = "classification"  # or "regression"
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if not self.input_shape or any(d < 1 for d in self.input_shape):
            raise DataError(f"Input shape {self.input_shape} must have positive dimensions.")
        if self.task not in ("classification", "regression"):
            raise DataError(f"Task {self.task!r} is unknown; use classification or regression.")
        if self.num_outputs < 1:
            raise DataError(f"A network needs at least one output, got {self.num_outputs}.")

    @property
    def spatial_dims(self) -> int:
        """0 for flat features, 1 for (C, L) sequences, 2 for (C, H, W) images."""
        return len(self.input_shape) - 1



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


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """Ops in order, with the shape after each op (no batch axis)."""

    family: str
    input_shape: tuple[int, ...]
    ops: tuple[Op, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[-1] if self.shapes else self.input_shape

    def layers(self) -> Iterator[tuple[Linear | Conv, tuple[int, ...]]]:
        """Every Linear and Conv op (inside cells and residual blocks too), with its output
        shape."""
        for op, shape in iter_ops(self.ops, self.shapes):
            if isinstance(op, Linear | Conv):
                yield op, shape

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass for one sample (linear and conv layers)."""
        return sum(layer_macs(op, shape) for op, shape in self.layers())

    @property
    def bops(self) -> int:
        """Bit operations of one forward pass for one sample: per layer, MACs x weight bits x
        input-activation bits, summed (a float32 layer counts 32 x 32 per MAC)."""
        return sum(layer_macs(op, shape) * op.weight_bits * op.act_bits
                   for op, shape in self.layers())

    @property
    def params(self) -> int | None:
        """Learnable parameters, from the shapes; None when the plan holds a layer kind that
        is not built in (a user-registered activation or norm: count the built model)."""
        floats = [_float_params(op) for op, _ in iter_ops(self.ops, self.shapes)]
        if any(n is None for n in floats):
            return None
        return sum(weight_count(op) for op, _ in self.layers()) + sum(floats)  # type: ignore

    @property
    def size_bits(self) -> int | None:
        """Model size in bits: Linear and Conv weights at their bit width, every other
        parameter at 32 bits; None where `params` is (see `size_bits_for`)."""
        params = self.params
        return None if params is None else self.size_bits_for(params)

    def size_bits_for(self, params: int) -> int:
        """The size in bits of this plan's model when it has `params` parameters in all."""
        weights = [(weight_count(op), op.weight_bits) for op, _ in self.layers()]
        return sum(n * bits for n, bits in weights) + (params - sum(n for n, _ in weights)) * 32

    def signature(self) -> tuple[object, ...]:
        """The structure without sizes: plans with equal signatures can be stacked (fused).

        Every field of every op except its feature and channel counts (kinds, dims, kernels,
        strides, groups, dilations, bit widths, dropout rates), composite ops opened."""
        return _signature(self.ops)


_SIZE_FIELDS = frozenset({"in_features", "out_features", "in_channels", "out_channels",
                          "channels"})


def _signature(ops: tuple[Op, ...]) -> tuple[object, ...]:
    def one(op: Op) -> tuple[object, ...]:
        if isinstance(op, Cell):
            return ("Cell", op.nodes, op.dims, tuple(
                (e.to, e.source, e.op, _signature(e.branch.ops)) for e in op.edges))
        if isinstance(op, Residual):
            return ("Residual", _signature(op.main.ops), _signature(op.shortcut.ops))
        fields = tuple((name, getattr(op, name)) for name in op.__slots__  # type: ignore
                       if name not in _SIZE_FIELDS)
        return (type(op).__name__, *fields)

    return tuple(one(op) for op in ops)


class PlanBuilder:
    """Appends ops while tracking the current shape, so families never compute shapes twice.

    `branch()` and `residual()` build sub-sequences (cell edges, residual blocks) with a
    builder of their own, started at the current shape by `sub()`.
    """

    def __init__(self, family: str, input_shape: tuple[int, ...]) -> None:
        self.family = family
        self.input_shape = tuple(input_shape)
        self.shape = tuple(input_shape)
        self._ops: list[Op] = []
        self._shapes: list[tuple[int, ...]] = []

    def _add(self, op: Op, shape: tuple[int, ...]) -> PlanBuilder:
        self._ops.append(op)
        self._shapes.append(shape)
        self.shape = shape
        return self

    def sub(self) -> PlanBuilder:
        """A fresh builder starting at this builder's current shape."""
        return PlanBuilder(self.family, self.shape)

    def flatten(self) -> PlanBuilder:
        if len(self.shape) == 1:
            return self
        return self._add(Flatten(), (math.prod(self.shape),))

    def linear(self, out_features: int, bias: bool = True,
               bits: LayerBits = FLOAT) -> PlanBuilder:
        (features,) = self.shape
        return self._add(Linear(features, out_features, bias, bits.weight, bits.act,
                                bits.learned_step), (out_features,))

    def conv(self, out_channels: int, kernel: int, stride: int = 1, bias: bool = True, *,
             groups: int = 1, dilation: int = 1, bits: LayerBits = FLOAT) -> PlanBuilder:
        channels, *spatial = self.shape
        out = tuple(-(-s // stride) for s in spatial)  # 'same' padding, ceil division
        op = Conv(len(spatial), channels, out_channels, kernel, stride, bias, groups, dilation,
                  bits.weight, bits.act, bits.learned_step)
        return self._add(op, (out_channels, *out))

    def norm(self, kind: str) -> PlanBuilder:
        return self._add(Norm(kind, self.shape[0], len(self.shape) - 1), self.shape)

    def activation(self, kind: str) -> PlanBuilder:
        return self._add(Activation(kind, self.shape[0], len(self.shape) - 1), self.shape)

    def norm_activation(self, norm: str, activation: str | None) -> PlanBuilder:
        """`norm` then `activation`; a norm-activation layer (EvoNorm) alone; no op for
        norm "none"."""
        if norm in NORM_ACTIVATIONS:
            return self.norm(norm)
        if norm != "none":
            self.norm(norm)
        return self.activation(activation) if activation is not None else self

    def dropout(self, p: float) -> PlanBuilder:
        return self._add(Dropout(float(p)), self.shape) if p > 0 else self

    def pool(self, kind: str, size: int, stride: int = 0) -> PlanBuilder:
        channels, *spatial = self.shape
        if stride and stride < size:
            out = tuple(-(-s // stride) for s in spatial)
        else:
            out = tuple(s // size for s in spatial)
        return self._add(Pool(kind, len(spatial), size, stride if stride < size else 0),
                         (channels, *out))

    def global_pool(self) -> PlanBuilder:
        if len(self.shape) == 1:
            return self
        return self._add(GlobalPool(len(self.shape) - 1), (self.shape[0],))

    def branch(self) -> Branch:
        return Branch(tuple(self._ops), tuple(self._shapes))

    def cell(self, nodes: int, edges: tuple[CellEdge, ...]) -> PlanBuilder:
        for edge in edges:
            if edge.branch.shapes and edge.branch.shapes[-1] != self.shape:
                raise ValueError(f"cell edge {edge.to}<-{edge.source} ({edge.op}) changes the "
                                 f"shape {self.shape} to {edge.branch.shapes[-1]}")
        return self._add(Cell(nodes, self.shape[0], len(self.shape) - 1, edges), self.shape)

    def residual(self, main: PlanBuilder, shortcut: PlanBuilder | None = None) -> PlanBuilder:
        """Add main(x) + shortcut(x); both builders were started with `sub()`."""
        cut = shortcut.branch() if shortcut is not None else Branch()
        out = cut.shapes[-1] if cut.shapes else self.shape
        if main.shape != out:
            raise ValueError(f"residual branches disagree: {main.shape} vs {out}")
        return self._add(Residual(main.branch(), cut), main.shape)

    def build(self) -> NetworkPlan:
        return NetworkPlan(self.family, self.input_shape, tuple(self._ops), tuple(self._shapes))
