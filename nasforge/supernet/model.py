"""The weight-sharing supernet: one set of tensors that every subnet of the space reads.

Sharing (OFA / BigNAS): a layer slot (`slots.py`) holds the largest weight any subnet needs;
a subnet with fewer units or channels reads the first k rows and columns, a smaller kernel
the centre crop of the largest kernel. Weights are fake-quantized at the subnet's bit width
on the fly (`fake_quant_weight`, as `QuantLinear` does), so every bit width trains the same
float weights. Norms and activations are not shared across choices: each (slot, kind,
channels) has its own module built by its layer spec (per-width batch norm, per-choice
learnable activations); input quantizers (observers) exist per (slot, bits).

How each op does this is its op spec's elastic rule (`rules.py`); this module only walks the
plan and dispatches: discovery (`slot_shape`), construction (`make`), one compiled closure
per op (`step`), extraction (`copy_into`).

`forward(x, arch)` takes the architecture explicitly; the module keeps no "active subnet".
`extract(arch)` is `build_from_plan(plan_for(arch, spec))` with the subnet's weights copied
in: an ordinary nasforge model whose output equals `forward(x, arch)` (eval mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nasforge.errors import ConfigError, SpaceError
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.space import SearchSpace
from nasforge.searchspace.specs import OP_SPECS, resolve
from nasforge.supernet.rules import ElasticRule, SlotShape, Step, layer_key, rule_of
from nasforge.supernet.slots import corners, layer_slots, layer_widths

#: Architectures planned to find every slot's largest shape (plus the extremes).
DISCOVERY_SAMPLES = 512
#: Most distinct layer widths the per-width norm and activation modules are made for.
MAX_WIDTHS = 64
#: Architectures whose compiled plan `Supernet` remembers.
PLAN_MEMO = 4096


@dataclass(frozen=True, slots=True)
class Subnet:
    """A compiled subnet: its plan, `layer_slots` walk (op index, op, slot), the closures
    `forward` runs (one per op, from the op's elastic rule) and the stateful modules they
    read (norms, activations, input quantizers)."""

    plan: NetworkPlan
    ops: list[tuple[int, object, str]]
    steps: list[Step]
    modules: list[nn.Module]


class Supernet(nn.Module):
    """Shared weights for every subnet of `space` (mlp, cnn and mbconv families) on `spec`.

    Input (N, *spec.input_shape) -> output (N, spec.num_outputs) for any architecture of the
    space. Initialisation is seeded with `seed` (the caller's RNG state is left untouched).
    """

    def __init__(self, space: SearchSpace, spec: DataSpec, seed: int = 0) -> None:
        super().__init__()
        self.space, self.spec = space, spec
        self._memo: dict[str, Subnet] = {}
        self._rules: dict[type, ElasticRule] = {}  # op type -> its spec's rule, resolved once
        if "learned" in _values(space, "quant_step"):
            raise ConfigError("The supernet shares fixed-step quantizers only; set [space] "
                              'quant_step = "fixed" (learned LSQ steps are per subnet).')
        shapes = self._discover(np.random.default_rng(seed))
        #: every layer width of the space: per-width rules make a module for each
        self.widths = layer_widths(space)
        if len(self.widths) > MAX_WIDTHS:
            raise ConfigError(f"The supernet makes norms per layer width, and the space has "
                              f"{len(self.widths)} widths (at most {MAX_WIDTHS}); give widths "
                              "and channels as lists, e.g. width = [32, 64, 128].")
        rules = _slot_makers()
        with seeded(seed):
            self.weights = nn.ParameterDict()
            self.biases = nn.ParameterDict()
            self.act_quant = nn.ModuleDict()
            self.layers = nn.ModuleDict()
            #: learned kernel transformations of elastic depthwise kernels (`conv.py`)
            self.kernel_transforms = nn.ParameterDict()
            for slot, shape in sorted(shapes.items()):
                for rule in rules:
                    rule.make(self, slot, shape)

    # ------------------------------------------------------------------ construction
    def _discover(self, rng: np.random.Generator) -> dict[str, SlotShape]:
        """slot -> the largest shape its ops read over the sampled architectures."""
        archs = corners(self.space, rng)
        archs += [self.space.sample(rng) for _ in range(DISCOVERY_SAMPLES)]
        shapes: dict[str, SlotShape] = {}
        for arch in archs:
            pending = [(op, slot, rule)
                       for (_, op, slot), rule in self._walk(arch, plan_for(arch, self.spec))]
            while pending:
                op, slot, rule = pending.pop()
                new = rule.slot_shape(op, slot)
                if new is not None:
                    old = shapes.get(slot)
                    shapes[slot] = new if old is None else old.merge(new)
                nested = getattr(rule, "nested", None)  # composite ops: the layers inside
                if nested is not None:
                    pending += [(o, s, self.rule(o)) for o, s in nested(op, slot)]
        return shapes

    def _walk(self, arch: Architecture, plan: NetworkPlan
              ) -> list[tuple[tuple[int, object, str], ElasticRule]]:
        """(op index, op, slot) and the op's rule, for every top-level op of `plan`."""
        rules = [self.rule(op) for op in plan.ops]
        return list(zip(layer_slots(arch, plan, [rule.role for rule in rules]), rules,
                        strict=True))

    def rule(self, op: object) -> ElasticRule:
        """The elastic rule of the op's spec (`rules.rule_of`)."""
        found = self._rules.get(type(op))
        if found is None:
            found = self._rules[type(op)] = rule_of(op)
        return found

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
        walk = self._walk(arch, plan)
        steps = [rule.step(self, op, slot) for (_, op, slot), rule in walk]
        modules = [m for (_, op, slot), rule in walk for m in rule.modules(self, op, slot)]
        return Subnet(plan, [where for where, _ in walk], steps, modules)

    def layer(self, slot: str, kind: str, channels: int) -> nn.Module:
        """The per-width norm or activation module `kind` of `channels` after `slot`."""
        key = layer_key(slot, kind, channels)
        if key not in self.layers:
            raise SpaceError(f"The supernet has no {kind!r} layer of {channels} channels after "
                             f"{slot}; the architecture is not from the space it was built on.")
        return self.layers[key]

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """(N, *input_shape) -> (N, num_outputs): the subnet `arch` on shared weights."""
        training = self.training
        for step in self.subnet(arch).steps:
            x = step(x, training)
        return x

    def layer_modules(self, arch: Architecture) -> list[nn.Module]:
        """The stateful modules the subnet reads: norms and activations (e.g. to recalibrate
        its BN) and its input quantizers."""
        return list(self.subnet(arch).modules)

    @torch.no_grad()
    def extract(self, arch: Architecture) -> nn.Sequential:
        """The standalone model of `arch` (`build_from_plan`) with the subnet's weights, on
        the supernet's device; equal to `forward(x, arch)` in eval mode."""
        subnet = self.subnet(arch)
        device = next(iter(self.weights.values())).device
        model = build_from_plan(subnet.plan).to(device)
        for i, op, slot in subnet.ops:
            self.rule(op).copy_into(self, model[i], op, slot)
        return model.train(self.training)


def _slot_makers() -> list[ElasticRule]:
    """The rules of every registered op spec (each makes its part of every slot), in their
    `stage` order."""
    found: dict[int, tuple[int, str, ElasticRule]] = {}
    for name in OP_SPECS.names():
        rule = resolve(OP_SPECS.get(name).elastic)
        if hasattr(rule, "make"):
            found.setdefault(id(rule), (rule.stage, name, rule))
    return [rule for *_, rule in sorted(found.values(), key=lambda t: t[:2])]


def _values(space: SearchSpace, name: str) -> list[object]:
    return list(space.params[name].values()) if name in space else []
