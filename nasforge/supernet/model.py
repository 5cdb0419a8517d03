"""The weight-sharing supernet: one set of tensors that every subnet of the space reads.

Sharing (OFA / BigNAS): a layer slot (`slots.py`) holds the largest weight any subnet needs;
a subnet with fewer units or channels reads the first k rows and columns, a smaller kernel
the centre crop of the largest kernel. Weights are fake-quantized at the subnet's bit width
on the fly (`fake_quant_weight`, as `QuantLinear` does), so every bit width trains the same
float weights. Norms and activations are not shared across choices: each (slot, kind,
channels) has its own module built by the registries (per-width batch norm, per-choice
learnable activations); input quantizers (observers) exist per (slot, bits).

`forward(x, arch)` takes the architecture explicitly; the module keeps no "active subnet".
`extract(arch)` is `build_from_plan(plan_for(arch, spec))` with the subnet's weights copied
in: an ordinary nasforge model whose output equals `forward(x, arch)` (eval mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError, SpaceError
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.searchspace.layers.quant import ActQuant, fake_quant_weight
from nasforge.searchspace.plan import (
    Activation,
    Conv,
    DataSpec,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    NetworkPlan,
    Norm,
    Pool,
)
from nasforge.searchspace.quantization import BIT_WIDTHS, FLOAT_BITS
from nasforge.searchspace.space import SearchSpace
from nasforge.supernet.slots import extreme, layer_slots

#: Architectures planned to find every slot's largest shape (plus the extremes).
DISCOVERY_SAMPLES = 512
#: Most distinct layer widths the per-width norm and activation modules are made for.
MAX_WIDTHS = 64
#: Architectures whose compiled plan `Supernet` remembers.
PLAN_MEMO = 4096
_CONV = {1: F.conv1d, 2: F.conv2d}
_POOL = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
         ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}
_LAYER, _MODULE, _DROPOUT, _FUNCTION = range(4)


@dataclass(frozen=True, slots=True)
class Subnet:
    """A compiled subnet: its plan, `layer_slots` walk, the (kind, payload) steps `forward`
    runs, its norm / activation modules and the input quantizers it reads."""

    plan: NetworkPlan
    ops: list[tuple[int, object, str]]
    steps: list[tuple[int, object]]
    modules: list[nn.Module]
    quants: list[nn.Module]


class Supernet(nn.Module):
    """Shared weights for every subnet of `space` (mlp and cnn families) on `spec`.

    Input (N, *spec.input_shape) -> output (N, spec.num_outputs) for any architecture of the
    space. Initialisation is seeded with `seed` (the caller's RNG state is left untouched).
    """

    def __init__(self, space: SearchSpace, spec: DataSpec, seed: int = 0) -> None:
        super().__init__()
        self.space, self.spec = space, spec
        self._memo: dict[str, Subnet] = {}
        if "learned" in _values(space, "quant_step"):
            raise ConfigError("The supernet shares fixed-step quantizers only; set [space] "
                              'quant_step = "fixed" (learned LSQ steps are per subnet).')
        shapes = self._discover(np.random.default_rng(seed))
        widths = sorted({int(v) for name, param in space.params.items()
                         if any(k in name for k in ("width", "channels"))
                         for v in (param.values() if param.size is not None else ())
                         if isinstance(v, int) and v > 0})
        if len(widths) > MAX_WIDTHS:
            raise ConfigError(f"The supernet makes norms per layer width, and the space has "
                              f"{len(widths)} widths (at most {MAX_WIDTHS}); give widths and "
                              "channels as lists, e.g. width = [32, 64, 128].")
        with seeded(seed):
            self.weights = nn.ParameterDict()
            self.biases = nn.ParameterDict()
            self.act_quant = nn.ModuleDict()
            self.layers = nn.ModuleDict()
            self._positions: dict[str, int] = {}
            for slot, (out, in_, kernel, dims, positions) in sorted(shapes.items()):
                self._make_slot(slot, out, in_, kernel, dims, positions)
                self._make_layers(slot, dims, widths + [out])
            self._layer_dims = {slot: dims for slot, (*_, dims, _p) in shapes.items()}

    # ------------------------------------------------------------------ construction
    def _discover(self, rng: np.random.Generator
                  ) -> dict[str, tuple[int, int, int, int, int]]:
        """slot -> (max out, max in channels, max kernel, dims, positions) over samples."""
        archs = [extreme(self.space, rng, True), extreme(self.space, rng, False)]
        archs += [self.space.sample(rng) for _ in range(DISCOVERY_SAMPLES)]
        shapes: dict[str, tuple[int, int, int, int, int]] = {}
        for arch in archs:
            plan = plan_for(arch, self.spec)
            for _, op, slot in layer_slots(arch, plan):
                if isinstance(op, Linear):
                    positions = int(slot.rsplit("_", 1)[1]) if "_flat_" in slot else 1
                    new = (op.out_features, op.in_features // positions, 1, 0, positions)
                elif isinstance(op, Conv):
                    if op.stride != 1 or op.groups != 1 or op.dilation != 1 or op.kernel % 2 == 0:
                        raise ConfigError(f"The supernet shares odd-kernel, stride-1 "
                                          f"convolutions only; slot {slot} has {op}.")
                    new = (op.out_channels, op.in_channels, op.kernel, op.dims, 1)
                else:
                    continue
                old = shapes.get(slot, new)
                shapes[slot] = (max(old[0], new[0]), max(old[1], new[1]),
                                max(old[2], new[2]), new[3], new[4])
        return shapes

    def _make_slot(self, slot: str, out: int, in_: int, kernel: int, dims: int,
                   positions: int) -> None:
        if dims:
            ref: nn.Module = {1: nn.Conv1d, 2: nn.Conv2d}[dims](in_, out, kernel)
        else:
            ref = nn.Linear(in_ * positions, out)  # the largest layer's default init
        self.weights[slot] = nn.Parameter(ref.weight.detach().clone())
        self.biases[slot] = nn.Parameter(ref.bias.detach().clone())
        self.act_quant[slot] = nn.ModuleDict({str(b): ActQuant(b) for b in BIT_WIDTHS})
        self._positions[slot] = positions

    def _make_layers(self, slot: str, dims: int, widths: Iterable[int]) -> None:
        """A norm and activation module per (kind, channels) that may follow the slot."""
        for what, registry in (("norm", NORMS), ("activation", ACTIVATIONS)):
            for kind in _values(self.space, what):
                for channels in sorted(set(widths)):
                    try:
                        module = registry.get(str(kind))(channels, dims)
                    except SpaceError:  # not for this layout: the space never plans it here
                        continue
                    self.layers[_key(slot, str(kind), channels)] = module

    # ------------------------------------------------------------------ subnets
    def plan(self, arch: Architecture) -> NetworkPlan:
        return self.subnet(arch).plan

    def subnet(self, arch: Architecture) -> Subnet:
        """The arch's execution plan, compiled once and cached by arch_id (planning and the
        slot walk in Python cost as much as a small subnet's forward pass); a pure function
        of `arch`, not an active subnet."""
        key = arch.arch_id
        compiled = self._memo.get(key)
        if compiled is None:
            if len(self._memo) >= PLAN_MEMO:
                self._memo.clear()
            compiled = self._memo[key] = self._compile(arch)
        return compiled

    def _compile(self, arch: Architecture) -> Subnet:
        plan = plan_for(arch, self.spec)
        ops = list(layer_slots(arch, plan))
        steps: list[tuple[int, object]] = []
        modules: list[nn.Module] = []
        for _, op, slot in ops:
            if isinstance(op, Linear | Conv):
                quant = self.act_quant[slot][str(op.act_bits)] \
                    if op.act_bits != FLOAT_BITS else None
                out = op.out_features if isinstance(op, Linear) else op.out_channels
                steps.append((_LAYER, (slot, op, quant, out)))
            elif isinstance(op, Norm | Activation):
                module = self.layer(slot, op.kind, op.channels)
                modules.append(module)
                steps.append((_MODULE, module))
            elif isinstance(op, Dropout):
                steps.append((_DROPOUT, op.p))
            elif isinstance(op, Pool):
                steps.append((_FUNCTION, partial(_POOL[op.kind, op.dims],
                                                 kernel_size=op.size, stride=op.size)))
            elif isinstance(op, GlobalPool):
                steps.append((_FUNCTION, partial(torch.mean,
                                                 dim=tuple(range(2, 2 + op.dims)))))
            elif isinstance(op, Flatten):
                steps.append((_FUNCTION, partial(torch.flatten, start_dim=1)))
            else:
                raise SpaceError(f"The supernet cannot run plan op {op!r}.")
        quants = [q for kind, step in steps if kind == _LAYER
                  for q in (step[2],) if q is not None]  # type: ignore[index]
        return Subnet(plan, ops, steps, modules, quants)

    def _ops(self, arch: Architecture) -> list[tuple[int, object, str]]:
        return self.subnet(arch).ops

    def weight(self, slot: str, op: Linear | Conv) -> torch.Tensor:
        """The subnet's float weight of the layer: first rows / columns, centre kernel crop
        (views of the shared tensor; the whole tensor when the layer is the largest)."""
        shared = self.weights[slot]
        if isinstance(op, Linear):
            p = self._positions[slot]
            if shared.shape == (op.out_features, op.in_features):
                return shared
            if p == 1:
                return shared[:op.out_features, :op.in_features]
            w = shared.view(shared.shape[0], -1, p)[:op.out_features, :op.in_features // p]
            return w.reshape(op.out_features, op.in_features)
        start = (shared.shape[-1] - op.kernel) // 2
        w = shared[:op.out_channels, :op.in_channels]
        if start == 0:
            return w
        crop = (slice(None), slice(None)) + (slice(start, start + op.kernel),) * op.dims
        return w[crop]

    def layer(self, slot: str, kind: str, channels: int) -> nn.Module:
        key = _key(slot, kind, channels)
        if key not in self.layers:
            raise SpaceError(f"The supernet has no {kind!r} layer of {channels} channels after "
                             f"{slot}; the architecture is not from the space it was built on.")
        return self.layers[key]

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """(N, *input_shape) -> (N, num_outputs): the subnet `arch` on shared weights."""
        for kind, step in self.subnet(arch).steps:
            if kind == _LAYER:
                slot, op, quant, out = step  # type: ignore[misc]
                if quant is not None:
                    x = quant(x)
                w = fake_quant_weight(self.weight(slot, op), op.weight_bits)
                b = self.biases[slot][:out] if op.bias else None
                x = F.linear(x, w, b) if isinstance(op, Linear) else \
                    _CONV[op.dims](x, w, b, padding=op.kernel // 2)
            elif kind == _MODULE:
                x = step(x)  # type: ignore[operator]
            elif kind == _DROPOUT:
                x = F.dropout(x, step, self.training)  # type: ignore[arg-type]
            else:
                x = step(x)  # type: ignore[operator]
        return x

    def layer_modules(self, arch: Architecture) -> list[nn.Module]:
        """The norm and activation modules the subnet uses (e.g. to recalibrate its BN)."""
        return list(self.subnet(arch).modules)

    @torch.no_grad()
    def extract(self, arch: Architecture) -> nn.Sequential:
        """The standalone model of `arch` (`build_from_plan`) with the subnet's weights, on
        the supernet's device; equal to `forward(x, arch)` in eval mode."""
        plan = self.plan(arch)
        device = next(iter(self.weights.values())).device
        model = build_from_plan(plan).to(device)
        for i, op, slot in layer_slots(arch, plan):
            module = model[i]
            if isinstance(op, Linear | Conv):
                module.weight.copy_(self.weight(slot, op))
                if op.bias:
                    module.bias.copy_(self.biases[slot][:module.weight.shape[0]])
                if not op.weight_bits == op.act_bits == FLOAT_BITS:
                    quant = self.act_quant[slot][str(op.act_bits)]
                    module.input_quant.load_state_dict(quant.state_dict())
            elif isinstance(op, Norm | Activation):
                module.load_state_dict(self.layer(slot, op.kind, op.channels).state_dict())
        return model.train(self.training)


def _key(slot: str, kind: str, channels: int) -> str:
    return f"{slot}__{kind}__{channels}"


def _values(space: SearchSpace, name: str) -> list[object]:
    return list(space.params[name].values()) if name in space else []
