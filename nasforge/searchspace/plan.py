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
from dataclasses import dataclass

from nasforge.errors import DataError


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
    in_features: int
    out_features: int
    bias: bool = True


@dataclass(frozen=True, slots=True)
class Conv:
    """Convolution over `dims` spatial axes (1 or 2), 'same' padding, given stride."""

    dims: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    bias: bool = True


@dataclass(frozen=True, slots=True)
class Norm:
    """A normalization layer from the norm registry, over `channels` features.

    `dims` is 0 for (N, C) inputs, 1 for (N, C, L), 2 for (N, C, H, W).
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
    """Max or average pooling over `dims` spatial axes with window = stride = `size`."""

    kind: str  # "max" | "avg"
    dims: int
    size: int


@dataclass(frozen=True, slots=True)
class GlobalPool:
    """Average over all spatial axes: (C, ...) -> (C,)."""

    dims: int


Op = Flatten | Linear | Conv | Norm | Activation | Dropout | Pool | GlobalPool


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

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass for one sample (linear and conv layers)."""
        total = 0
        for op, shape in zip(self.ops, self.shapes, strict=True):
            if isinstance(op, Linear):
                total += op.in_features * op.out_features
            elif isinstance(op, Conv):
                positions = math.prod(shape[1:])
                total += positions * op.out_channels * op.in_channels * op.kernel**op.dims
        return total

    def signature(self) -> tuple[object, ...]:
        """The structure without sizes: plans with equal signatures can be stacked (fused)."""
        return tuple(
            (type(op).__name__, getattr(op, "kind", None), getattr(op, "dims", None))
            for op in self.ops
        )


class PlanBuilder:
    """Appends ops while tracking the current shape, so families never compute shapes twice."""

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

    def flatten(self) -> PlanBuilder:
        if len(self.shape) == 1:
            return self
        return self._add(Flatten(), (math.prod(self.shape),))

    def linear(self, out_features: int, bias: bool = True) -> PlanBuilder:
        (features,) = self.shape
        return self._add(Linear(features, out_features, bias), (out_features,))

    def conv(self, out_channels: int, kernel: int, stride: int = 1,
             bias: bool = True) -> PlanBuilder:
        channels, *spatial = self.shape
        out = tuple(-(-s // stride) for s in spatial)  # 'same' padding, ceil division
        return self._add(Conv(len(spatial), channels, out_channels, kernel, stride, bias),
                         (out_channels, *out))

    def norm(self, kind: str) -> PlanBuilder:
        return self._add(Norm(kind, self.shape[0], len(self.shape) - 1), self.shape)

    def activation(self, kind: str) -> PlanBuilder:
        return self._add(Activation(kind, self.shape[0], len(self.shape) - 1), self.shape)

    def dropout(self, p: float) -> PlanBuilder:
        return self._add(Dropout(float(p)), self.shape) if p > 0 else self

    def pool(self, kind: str, size: int) -> PlanBuilder:
        channels, *spatial = self.shape
        return self._add(Pool(kind, len(spatial), size), (channels, *(s // size for s in spatial)))

    def global_pool(self) -> PlanBuilder:
        if len(self.shape) == 1:
            return self
        return self._add(GlobalPool(len(self.shape) - 1), (self.shape[0],))

    def build(self) -> NetworkPlan:
        return NetworkPlan(self.family, self.input_shape, tuple(self._ops), tuple(self._shapes))
