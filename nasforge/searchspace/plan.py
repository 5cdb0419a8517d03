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
from nasforge.searchspace.plan_ops import (  # noqa: F401  (re-exported: the plan's vocabulary)
    Activation,
    Branch,
    Cell,
    CellEdge,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Norm,
    Op,
    PlanOp,
    Pool,
    Residual,
    iter_ops,
)
from nasforge.searchspace.quantization import FLOAT, LayerBits
from nasforge.searchspace.specs import Cost, norm_activations, spec_of


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
class NetworkPlan:
    """Ops in order, with the shape after each op (no batch axis)."""

    family: str
    input_shape: tuple[int, ...]
    ops: tuple[Op, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[-1] if self.shapes else self.input_shape

    def layers(self) -> Iterator[tuple[Op, tuple[int, ...]]]:
        """Every op with a weight tensor (its cost has `weights`: Linear and Conv, and user
        ops with weights), inside cells and residual blocks too, with its output shape."""
        for op, shape in iter_ops(self.ops, self.shapes):
            if spec_of(op).cost(op, shape).weights > 0:
                yield op, shape

    def costs(self) -> Iterator[Cost]:
        """Each op's cost (its spec's), composite ops opened."""
        for op, shape in iter_ops(self.ops, self.shapes):
            yield spec_of(op).cost(op, shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass for one sample."""
        return sum(cost.macs for cost in self.costs())

    @property
    def bops(self) -> int:
        """Bit operations of one forward pass for one sample: per layer, MACs x weight bits x
        input-activation bits, summed (a float32 layer counts 32 x 32 per MAC)."""
        return sum(cost.bops for cost in self.costs())

    @property
    def params(self) -> int | None:
        """Learnable parameters, from the shapes; None when the plan holds a layer whose spec
        cannot count them (a user layer registered without a count: count the built model)."""
        total = 0
        for cost in self.costs():
            if cost.params is None:
                return None
            total += cost.params
        return total

    @property
    def size_bits(self) -> int | None:
        """Model size in bits: weights at their bit width, every other parameter at 32 bits;
        None where `params` is (see `size_bits_for`)."""
        params = self.params
        return None if params is None else self.size_bits_for(params)

    def size_bits_for(self, params: int) -> int:
        """The size in bits of this plan's model when it has `params` parameters in all."""
        weights = [(cost.weights, cost.weight_bits) for cost in self.costs()]
        return sum(n * bits for n, bits in weights) + (params - sum(n for n, _ in weights)) * 32

    def signature(self) -> tuple[object, ...]:
        """The structure without sizes: plans with equal signatures can be stacked (fused).

        Every field of every op except its feature and channel counts (kinds, dims, kernels,
        strides, groups, dilations, bit widths, dropout rates), composite ops opened."""
        return _signature(self.ops)


def _signature(ops: tuple[Op, ...]) -> tuple[object, ...]:
    return tuple(spec_of(op).signature_of(op, _signature) for op in ops)


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

    def add(self, op: Op, shape: tuple[int, ...]) -> PlanBuilder:
        """Append any plan op (a user op with a registered spec) whose output is `shape`."""
        return self._add(op, tuple(shape))

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
        if norm in norm_activations():
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
