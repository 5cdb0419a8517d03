"""The ops of a network plan (torch-free): layers with every size resolved, composite ops
(cells, residual blocks) holding branches of ops. What each op costs, and how it is built,
exported, fused and made elastic, is its spec's (`specs.spec_of`).

Shapes exclude the batch axis. `plan.py` assembles ops into a `NetworkPlan`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nasforge.searchspace.quantization import FLOAT_BITS


class PlanOp:
    """Base of the plan ops. The set is open: a plugin defines a frozen dataclass deriving
    from this class and registers its `specs.OpSpec` (``OP_SPECS.add``); everything that
    reads plans (costs, build, export, fused training, supernets) goes through that spec, and
    `specs.spec_of` refuses an op type without one."""

    __slots__ = ()


Op = PlanOp
"""Any plan op (a type alias kept for the readers that annotate with it)."""


@dataclass(frozen=True, slots=True)
class Flatten(PlanOp):
    """(C, ...) -> (C * ...,)."""


@dataclass(frozen=True, slots=True)
class Linear(PlanOp):
    """A fully connected layer; `weight_bits` / `act_bits` below 32 make it quantization-aware
    (its weight and its input are fake-quantized; see `nasforge.searchspace.quantization`)."""

    in_features: int
    out_features: int
    bias: bool = True
    weight_bits: int = FLOAT_BITS
    act_bits: int = FLOAT_BITS
    learned_step: bool = False


@dataclass(frozen=True, slots=True)
class Conv(PlanOp):
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
class Norm(PlanOp):
    """A normalization layer from the norm registry, over `channels` features.

    `dims` is 0 for (N, C) inputs, 1 for (N, C, L), 2 for (N, C, H, W). A norm-activation
    kind (`LayerSpec.norm_activation`, e.g. EvoNorm) has no Activation op after it.
    """

    kind: str
    channels: int
    dims: int


@dataclass(frozen=True, slots=True)
class Activation(PlanOp):
    """An activation from the activation registry, applied to `channels` features."""

    kind: str
    channels: int
    dims: int


@dataclass(frozen=True, slots=True)
class Dropout(PlanOp):
    p: float


@dataclass(frozen=True, slots=True)
class Pool(PlanOp):
    """Max or average pooling over `dims` spatial axes with a window of `size`.

    `stride` 0 means stride = size (non-overlapping: s -> s // size); a stride below the size
    pads 'same' (s -> ceil(s / stride); padding is left out of averages).
    """

    kind: str  # "max" | "avg"
    dims: int
    size: int
    stride: int = 0


@dataclass(frozen=True, slots=True)
class GlobalPool(PlanOp):
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
class Cell(PlanOp):
    """A DAG cell over (channels, *spatial) features: node 0 is the input, node j the sum of
    its incoming edges, node `nodes - 1` the output; a node without edges is zero. Only the
    edges that exist are listed ("none" edges and dead edges are left out)."""

    nodes: int
    channels: int
    dims: int
    edges: tuple[CellEdge, ...]


@dataclass(frozen=True, slots=True)
class Residual(PlanOp):
    """main(x) + shortcut(x); an empty shortcut is the identity."""

    main: Branch
    shortcut: Branch = Branch()


#: The gates a `SqueezeExcite` op may use.
SE_GATES = ("sigmoid", "hardsigmoid")


@dataclass(frozen=True, slots=True)
class SqueezeExcite(PlanOp):
    """Squeeze-and-excite over (channels, *spatial) features: the mean over the `dims`
    spatial axes, a 1x1 layer to `reduced` channels, ReLU, a 1x1 layer back to `channels`,
    `gate` ("sigmoid" or "hardsigmoid"), and the input scaled by it channel by channel.
    Its two 1x1 layers stay float32 (they see one value per channel)."""

    channels: int
    reduced: int
    dims: int
    gate: str = "sigmoid"


def iter_ops(ops: tuple[Op, ...], shapes: tuple[tuple[int, ...], ...]
             ) -> Iterator[tuple[Op, tuple[int, ...]]]:
    """Every op with its output shape; composite ops (cells, residuals) are yielded and then
    opened (through their spec's `children`), recursively."""
    from nasforge.searchspace.specs import spec_of

    for op, shape in zip(ops, shapes, strict=True):
        yield op, shape
        for branch in spec_of(op).children(op):
            yield from iter_ops(branch.ops, branch.shapes)


# --- input resolution (elastic resolution: the data resized on the device) ---

RESIZE_MODES = ("bilinear", "bicubic")


@dataclass(frozen=True, slots=True)
class Resize(PlanOp):
    """Resize the spatial axes from `in_size` to `size` per axis: (C, *in_size) -> (C, size,
    ...). `dims` is 1 for (C, L) sequences, 2 for (C, H, W) images; `mode` an antialiased
    interpolation (`RESIZE_MODES`). Parameter-free; a plan of an architecture with a
    ``resolution`` starts with one (`families.plan_for`)."""

    dims: int
    in_size: tuple[int, ...]
    size: int
    mode: str = "bilinear"
