"""How each plan op becomes elastic: the supernet rules its op spec names (`OpSpec.elastic`,
``nasforge.supernet.rules:<NAME>``).

A rule answers, for one op kind:

- `slot_shape(op, slot)`: the shape of the shared tensors the op reads (merged to the largest
  over the discovery samples), or None when it reads none; it raises ConfigError for an op
  the supernet cannot share;
- `make(net, slot, shape)`: create what the rule keeps for a slot (every rule is asked for
  every slot: a shared-slice rule makes the slot's weights when the shape is its own, a
  per-width rule its modules for the widths that may follow the slot);
- `step(net, op, slot)`: the compiled closure ``(x, training) -> x`` that runs the op of a
  subnet on the shared state (built once per subnet, see `Supernet.subnet`);
- `modules(net, op, slot)`: the stateful modules the step reads (norms, activations, input
  quantizers: recalibration resets or observes them);
- `copy_into(net, module, op, slot)`: copy the subnet's state into the op's built module
  (`Supernet.extract`).

The kinds: `SharedSlice` (Linear, Conv: the first rows / columns of the largest weight, the
centre crop of the largest kernel, fake-quantized on the fly), `PerWidth` (Norm, Activation:
a module per (slot, kind, width), built through the layer spec, whose `elastic` must be
`specs.PER_WIDTH`) and `Fixed` (no weights: flatten, dropout, pools). An op spec whose
elastic is the marker `specs.FIXED` runs its own built module (`BUILT`); `NOT_ELASTIC` (cells)
is a ConfigError naming the op. Strided and depthwise convolutions (`conv.py`), residual
blocks (`residual.py`) and squeeze-and-excite (`squeeze_excite.py`) have modules of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError, SpaceError
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.layers.quant import ActQuant, fake_quant_weight
from nasforge.searchspace.ops.padding import pool_padding, same_padding
from nasforge.searchspace.plan import NetworkPlan
from nasforge.searchspace.quantization import BIT_WIDTHS, FLOAT_BITS
from nasforge.searchspace.specs import FIXED, PER_WIDTH, layer_spec, resolve, spec_of

if TYPE_CHECKING:
    from nasforge.supernet.model import Supernet

Step = Callable[[torch.Tensor, bool], torch.Tensor]


@dataclass(frozen=True, slots=True)
class SlotShape:
    """The largest layer a slot holds: `rule` makes its tensors. `positions`: spatial
    positions flattened into each input feature (a CNN head reading flat features)."""

    rule: ElasticRule
    out: int
    in_: int
    kernel: int
    dims: int
    positions: int = 1
    depthwise: bool = False  # (out, 1, k, ...) weights, one filter per channel (`conv.py`)

    def merge(self, other: SlotShape) -> SlotShape:
        if self.depthwise != other.depthwise:
            raise SpaceError(f"A supernet slot holds both a depthwise and a dense conv ({self} "
                             f"and {other}); give the space layers of at least 2 channels.")
        return replace(other, out=max(self.out, other.out), in_=max(self.in_, other.in_),
                       kernel=max(self.kernel, other.kernel))


class ElasticRule(Protocol):
    """How one op kind becomes elastic (see the module docstring)."""

    #: what the op is to the slot naming (`slots.layer_slots`): "linear" / "conv" (opens a
    #: slot of that scheme), "flatten" (later linear slots read flat features), "norm" /
    #: "activation", "se" / "residual" (`block_slots` names mbconv blocks by them) or "".
    role: str
    #: when `make` runs for a slot, lowest first (the seeded initialisation depends on it):
    #: shared weights 0, norms 1, activations 2, the rest 3.
    stage: int

    def slot_shape(self, op: Any, slot: str) -> SlotShape | None: ...
    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None: ...
    def step(self, net: Supernet, op: Any, slot: str) -> Step: ...
    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]: ...
    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None: ...


class Fixed:
    """An op without weights: the supernet runs its functional form (`step_of(op)`)."""

    def __init__(self, step_of: Callable[[Any], Step], role: str = "",
                 check: Callable[[Any], str | None] | None = None) -> None:
        self.step_of, self.role, self.check, self.stage = step_of, role, check, 3

    def slot_shape(self, op: Any, slot: str) -> SlotShape | None:
        why = self.check(op) if self.check is not None else None
        if why:
            raise ConfigError(f"The supernet cannot run {op!r} (after slot {slot}): {why}")
        return None

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        pass

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        return self.step_of(op)

    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]:
        return ()

    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None:
        pass


class PerWidth:
    """Norms / activations (`role`): one module per (slot, kind, channels), made for every
    kind of the space's `role` parameter and every layer width, built by the layer spec."""

    def __init__(self, role: str, stage: int) -> None:
        self.role, self.stage = role, stage

    def slot_shape(self, op: Any, slot: str) -> SlotShape | None:
        self._spec(op.kind)
        return None

    def _spec(self, kind: str) -> Any:
        spec = layer_spec(self.role, kind)
        if spec.elastic is not PER_WIDTH:
            raise ConfigError(f"The supernet cannot share {self.role} {kind!r} (its spec's "
                              f"elastic rule is {spec.elastic!r}); remove {kind!r} from "
                              f"[space] {self.role} or use another strategy.")
        return spec

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        kinds = net.space.params[self.role].values() if self.role in net.space else ()
        for kind in kinds:
            spec = self._spec(str(kind))
            for channels in sorted(set(net.widths + [shape.out])):
                try:
                    module = spec(channels, shape.dims)
                except SpaceError:  # not for this layout: the space never plans it here
                    continue
                net.layers[layer_key(slot, str(kind), channels)] = module

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        module = net.layer(slot, op.kind, op.channels)
        return lambda x, training: module(x)

    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]:
        return (net.layer(slot, op.kind, op.channels),)

    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None:
        module.load_state_dict(net.layer(slot, op.kind, op.channels).state_dict())


def layer_key(slot: str, kind: str, channels: int) -> str:
    return f"{slot}__{kind}__{channels}"


class SharedSlice:
    """Linear / Conv: the slot holds the largest weight and bias; a subnet's layer reads a
    view of them (`view`), fake-quantized at its weight bits, after its input quantizer
    (one per (slot, bits))."""

    role = ""
    stage = 0

    def out(self, op: Any) -> int:
        raise NotImplementedError

    def reference(self, shape: SlotShape) -> nn.Module:
        """The largest layer, whose default initialisation the slot starts from."""
        raise NotImplementedError

    def view(self, op: Any, slot: str, shared: torch.Size
             ) -> Callable[[torch.Tensor], torch.Tensor]:
        """shared weight (of shape `shared`) -> the op's weight (views of it)."""
        raise NotImplementedError

    def function(self, op: Any) -> Callable[..., torch.Tensor]:
        """(x, weight, bias) -> y."""
        raise NotImplementedError

    def slot_shape(self, op: Any, slot: str) -> SlotShape | None:
        raise NotImplementedError

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        if shape.rule is not self:
            return
        ref: Any = self.reference(shape)
        net.weights[slot] = nn.Parameter(ref.weight.detach().clone())
        net.biases[slot] = nn.Parameter(ref.bias.detach().clone())
        net.act_quant[slot] = nn.ModuleDict({str(b): ActQuant(b) for b in BIT_WIDTHS})

    def weight(self, net: Supernet, op: Any, slot: str) -> torch.Tensor:
        """The subnet's float weight of the layer (views of the shared tensor)."""
        shared = net.weights[slot]
        return self.view(op, slot, shared.shape)(shared)

    def _quant(self, net: Supernet, op: Any, slot: str) -> nn.Module | None:
        return _input_quant(net, op, slot) if op.act_bits != FLOAT_BITS else None

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        weights, biases, function = net.weights, net.biases, self.function(op)
        view, bits = self.view(op, slot, weights[slot].shape), op.weight_bits
        out, bias, quant = self.out(op), op.bias, self._quant(net, op, slot)

        def step(x: torch.Tensor, training: bool) -> torch.Tensor:
            if quant is not None:
                x = quant(x)
            w = fake_quant_weight(view(weights[slot]), bits)
            return function(x, w, biases[slot][:out] if bias else None)
        return step

    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]:
        quant = self._quant(net, op, slot)
        return () if quant is None else (quant,)

    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None:
        layer: Any = module  # nn.Linear / nn.ConvNd, or their quantized forms
        layer.weight.copy_(self.weight(net, op, slot))
        if op.bias:
            layer.bias.copy_(net.biases[slot][:layer.weight.shape[0]])
        if not op.weight_bits == op.act_bits == FLOAT_BITS:
            layer.input_quant.load_state_dict(_input_quant(net, op, slot).state_dict())


def _input_quant(net: Supernet, op: Any, slot: str) -> nn.Module:
    quants: Any = net.act_quant[slot]
    quant: nn.Module = quants[str(op.act_bits)]
    return quant


class LinearSlice(SharedSlice):
    """(out, in * positions) weights; a flat head's columns are (feature, position) pairs, so
    a subnet with fewer features reads the first features at every position."""

    role = "linear"

    def out(self, op: Any) -> int:
        return int(op.out_features)

    def slot_shape(self, op: Any, slot: str) -> SlotShape:
        positions = flat_positions(slot)
        return SlotShape(self, op.out_features, op.in_features // positions, 1, 0, positions)

    def reference(self, shape: SlotShape) -> nn.Module:
        return nn.Linear(shape.in_ * shape.positions, shape.out)

    def view(self, op: Any, slot: str, shared: torch.Size
             ) -> Callable[[torch.Tensor], torch.Tensor]:
        out, in_, positions = op.out_features, op.in_features, flat_positions(slot)
        if tuple(shared) == (out, in_):
            return _whole
        if positions == 1:
            return lambda w: w[:out, :in_]
        return lambda w: w.view(w.shape[0], -1, positions)[:out, :in_ // positions
                                                           ].reshape(out, in_)

    def function(self, op: Any) -> Callable[..., torch.Tensor]:
        return F.linear


def flat_positions(slot: str) -> int:
    """Spatial positions per feature of a slot reading flat features (``*_flat_<n>``)."""
    return int(slot.rsplit("_", 1)[1]) if "_flat_" in slot else 1


def _whole(w: torch.Tensor) -> torch.Tensor:
    return w


class ConvSlice(SharedSlice):
    """(out, in, k, ...) weights of the largest odd kernel; a smaller kernel reads its centre
    crop. Stride 1, no groups or dilation, odd kernels ('same' padding inside the conv);
    the Conv op's rule (`conv.CONV`) extends it to strides and depthwise convolutions."""

    role = "conv"
    _FUNCTIONS = {1: F.conv1d, 2: F.conv2d}
    _MODULES = {1: nn.Conv1d, 2: nn.Conv2d}

    def out(self, op: Any) -> int:
        return int(op.out_channels)

    def slot_shape(self, op: Any, slot: str) -> SlotShape:
        if op.stride != 1 or op.groups != 1 or op.dilation != 1 or \
                same_padding(op.kernel, op.dilation).asymmetric:
            raise ConfigError(f"The supernet shares odd-kernel, stride-1 convolutions only "
                              f"(no groups or dilation); slot {slot} has {op}. Give the "
                              "space odd kernels, or use another strategy.")
        return SlotShape(self, op.out_channels, op.in_channels, op.kernel, op.dims)

    def reference(self, shape: SlotShape) -> nn.Module:
        return self._MODULES[shape.dims](shape.in_, shape.out, shape.kernel)

    def view(self, op: Any, slot: str, shared: torch.Size
             ) -> Callable[[torch.Tensor], torch.Tensor]:
        out, in_ = op.out_channels, op.in_channels
        start = (shared[-1] - op.kernel) // 2
        if start == 0:
            return lambda w: w[:out, :in_]
        crop = (slice(None), slice(None)) + (slice(start, start + op.kernel),) * op.dims
        return lambda w: w[:out, :in_][crop]

    def function(self, op: Any) -> Callable[..., torch.Tensor]:
        conv, padding = self._FUNCTIONS[op.dims], same_padding(op.kernel, op.dilation).symmetric
        return lambda x, w, b: conv(x, w, b, padding=padding)


def _flatten(op: Any) -> Step:
    return lambda x, training: torch.flatten(x, 1)


def _dropout(op: Any) -> Step:
    p = op.p
    return lambda x, training: F.dropout(x, p, training)


_POOLS: dict[tuple[str, int], Callable[..., torch.Tensor]] = {
    ("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
    ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}


def _pool(op: Any) -> Step:
    """stride 0: stride = size; an overlapping pool pads as the builder does (padding left
    out of averages), so that the trained net is the extracted one."""
    pool, size = _POOLS[op.kind, op.dims], op.size
    if not op.stride:
        return lambda x, training: pool(x, size, size)
    stride, padding = op.stride, pool_padding(size, op.stride)
    extra = {"count_include_pad": False} if op.kind == "avg" else {}
    return lambda x, training: pool(x, size, stride, padding, **extra)


def _check_pool(op: Any) -> str | None:
    if op.stride and op.size % 2 == 0:
        return f"an overlapping pool needs an odd window, got {op.size}"
    return None


def _global_pool(op: Any) -> Step:
    axes = tuple(range(2, 2 + op.dims))
    return lambda x, training: torch.mean(x, dim=axes)


FLATTEN = Fixed(_flatten, role="flatten")
LINEAR = LinearSlice()
NORM = PerWidth("norm", stage=1)
ACTIVATION = PerWidth("activation", stage=2)
DROPOUT = Fixed(_dropout)
POOL = Fixed(_pool, check=_check_pool)
GLOBAL_POOL = Fixed(_global_pool)


def _built(op: Any) -> Step:
    """The op's own module (`build_from_plan` of the one op): an op without weights."""
    module = build_from_plan(NetworkPlan("supernet", (), (op,), ((1,),)))[0]

    def step(x: torch.Tensor, training: bool) -> torch.Tensor:
        module.train(training)
        y: torch.Tensor = module(x)
        return y
    return step


BUILT = Fixed(_built)


def rule_of(op: object) -> ElasticRule:
    """The elastic rule of a plan op, from its spec; ConfigError when it has none."""
    spec = spec_of(op)
    rule = BUILT if spec.elastic is FIXED else resolve(spec.elastic)
    if not hasattr(rule, "step"):  # the NOT_ELASTIC marker
        raise ConfigError(f"The supernet cannot share weights over {spec.name} ops ({op!r}: "
                          f"its spec's elastic rule is {rule!r}); use another strategy, or "
                          "a family without them.")
    found: ElasticRule = rule
    return found
