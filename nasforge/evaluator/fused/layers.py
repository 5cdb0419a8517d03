"""The layers of a stacked model (`stack.StackedModel`): the contract each op's stacked
implementation fulfils (`FusedImpl`, one per op spec, in `ops`; `Op`: the defaults they
inherit, which `align` also assumes for a plugin's implementation without them), and what it
describes.

A stacked activation travels in one of two layouts:

- "models": (M, B, *shape), model axis first: the input, flat features (linear layers run as
  batched matrix products `bmm` over it);
- "channels": (B, M * C, *spatial), the models' channels side by side: convolutions run as
  one grouped convolution over it, batch norm, pools and activations act per channel.

Each implementation converts its input to the layout it needs. Parameters come from the
stack's views ("op.name" -> (M, *padded shape)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import nn

from nasforge.errors import NasforgeError
from nasforge.evaluator.fused.dropout import ModelStreams
from nasforge.searchspace.quantization import FLOAT_BITS

State = tuple[torch.Tensor, str]  # (activation, layout)


class FusionError(NasforgeError):
    """Candidates cannot be trained as one stacked model (different structure or an op the
    fused path does not support); train them one by one with `train_candidate` instead."""


@dataclass(frozen=True, slots=True)
class Site:
    """Op `index` of every stacked model: model m's plan op `ops[m]`, its built module
    `modules[m]` and its own (unpadded) output shape `shapes[m]`."""

    index: int
    ops: Sequence[Any]
    modules: Sequence[nn.Module]
    shapes: Sequence[tuple[int, ...]]
    device: torch.device


@dataclass(frozen=True, slots=True)
class StackCtx:
    """What a layer's forward reads besides its input: the stacked parameters and buffers,
    the number of models, the mode and (for dropout) the models' random streams."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    m: int
    training: bool
    streams: ModelStreams | None = None


class FusedImpl(Protocol):
    """The stacked implementation of one op kind (an op spec's or layer spec's `fused`)."""

    def check(self, op: Any) -> str | None:
        """Why `op` cannot be stacked, or None."""

    def key(self, op: Any, sig: object) -> object:
        """The op's part of `stack.stack_key` (`sig`: its part of the plan signature)."""

    def exact_sizes(self, op: Any) -> bool:
        """True when stacked models must have equal sizes (padding would shift groups or
        observed ranges)."""

    def describe(self, site: Site) -> Layer:
        """The stacked layer for op `site.index` of every model."""

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        """Apply the stacked layer; returns the new (activation, layout)."""


class Op:
    """Defaults: always stackable, keyed by the plan signature, sizes may differ; an anchor
    (no stacked model may skip it: `skip_kind` None, see `align`)."""

    def check(self, op: Any) -> str | None:
        return None

    def key(self, op: Any, sig: object) -> object:
        return sig

    def exact_sizes(self, op: Any) -> bool:
        return False

    def skip_kind(self, op: Any) -> object | None:
        """Which ops may share a slot that some stacked models skip (on flat features);
        None: not skippable."""
        return None

    def gated(self, op: Any) -> bool:
        """True when a skipping model's output at the slot is selected per model
        (`torch.where`); False when its stand-in is itself the identity."""
        return False

    def identity(self, op: Any) -> dict[str, torch.Tensor] | None:
        """Parameter values that make the stand-in `op` compute exactly its input (the
        others zero), so a model skipping a gated slot needs no per-model selection; None:
        select with `torch.where`. The stack keeps these values fixed (no gradient, restored
        after every update)."""
        return None

    def stand_in(self, op: Any, width: int) -> Any:
        """An op of this slot's kind that a model skipping it runs, `width` features wide."""
        raise FusionError(f"{type(op).__name__} cannot be skipped")

    def donor(self, op: Any) -> Any:
        """The op whose parameter shapes pad the slot (see `stack`)."""
        return op

    def per_model_random(self, op: Any) -> bool:
        """True when each model draws its own random numbers here (a cost-model term)."""
        return False

    def groups_by_kind(self, op: Any) -> bool:
        """True when models run per group of one kind here (a cost-model term)."""
        return False


@dataclass(slots=True)
class Layer:
    """One op of the stack, run by `impl`. `key`: its parameter-name prefix ("3" or "3.1"
    for a padded conv); `module`: a parameter-free module applied as is (pool); `fn`: a
    functional form (the conv); `acts`: each model's elementwise module, applied per group of
    models that share one; for layer norm with padding, `counts` (M, 1, 1) real features and
    `features` (M, 1, C) a 0/1 mask of them; `buffers`: (name in the op's module, padding
    fill) stacked per model; `counters`: buffers set to the stack's step count on write-back;
    `random`: draws from the models' random streams; `passthrough` (M, 1, 1): False for the
    models that skip this slot (they pass their input through, see `align`);
    `model_options`: the `options` that hold one entry per model; `runs`: (start, count) of
    each run of models with one activation (`groups[i]` the i-th run's), when few runs cover
    the models (then no gather is needed); `narrowable`: the slot keeps its input's shape
    and draws nothing, so when the models that run it sit side by side (`present`: start,
    stop) the stack runs `inner`, this layer for those models alone, on their slice
    (`narrow_present`)."""

    impl: FusedImpl
    index: int
    key: str = ""
    module: nn.Module | None = None
    fn: Callable[..., torch.Tensor] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    acts: list[nn.Module] = field(default_factory=list)
    groups: list[tuple[nn.Module, torch.Tensor]] = field(default_factory=list)
    gather: torch.Tensor | None = None
    inverse: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    features: torch.Tensor | None = None
    buffers: tuple[tuple[str, float], ...] = ()
    counters: tuple[str, ...] = ()
    random: bool = False
    weight_bits: int = FLOAT_BITS
    act_bits: int = FLOAT_BITS
    passthrough: torch.Tensor | None = None
    model_options: tuple[str, ...] = ()
    runs: list[tuple[int, int]] = field(default_factory=list)
    device: torch.device | None = None
    narrowable: bool = False
    present: tuple[int, int] | None = None
    inner: Layer | None = None

    def keep(self, kept: list[int]) -> None:
        """Keep only the models at the `kept` positions (in that order)."""
        for name in self.model_options:
            self.options[name] = [self.options[name][k] for k in kept]
        if self.passthrough is not None:
            index = torch.tensor(kept, device=self.passthrough.device)
            self.passthrough = self.passthrough.index_select(0, index)
        if self.acts:
            self.acts = [self.acts[k] for k in kept]
            self.group(self.device)
        if self.counts is not None and self.features is not None:
            index = torch.tensor(kept, device=self.counts.device)
            self.counts = self.counts.index_select(0, index)
            self.features = self.features.index_select(0, index)
            if bool((self.counts == self.features.shape[-1]).all()):
                self.counts = self.features = None  # no padding left among these models
        self.narrow_present()

    def narrow_present(self) -> None:
        """Set `present` and `inner` when the layer is `narrowable` and the models that run
        it (`passthrough`) form one run side by side; else clear them."""
        self.present = self.inner = None
        if not self.narrowable or self.passthrough is None:
            return
        flags = [bool(f) for f in self.passthrough.view(-1).tolist()]
        if True not in flags:
            return
        start = flags.index(True)
        stop = start + 1
        while stop < len(flags) and flags[stop]:
            stop += 1
        if True in flags[stop:]:
            return
        inner = replace(self, options=dict(self.options), passthrough=None, narrowable=False)
        inner.keep(list(range(start, stop)))
        self.present, self.inner = (start, stop), inner

    def group(self, device: torch.device | None) -> None:
        """Models that share an activation, grouped; one group needs no regrouping. Runs of
        equal activations side by side (at most two per kind, e.g. a kind's models, then
        those that skip the slot) apply to views (`runs`); otherwise the models are gathered
        into kind order (`gather`), each kind's (`groups`) applied to its part, and put back
        in order (`inverse`)."""
        by_kind: dict[str, list[int]] = {}
        for slot, act in enumerate(self.acts):
            by_kind.setdefault(repr(act), []).append(slot)
        self.gather = None
        if len(by_kind) == 1:
            self.groups, self.inverse, self.runs = [(self.acts[0], torch.empty(0))], None, []
            return
        starts = [slot for slot in range(len(self.acts))
                  if slot == 0 or repr(self.acts[slot]) != repr(self.acts[slot - 1])]
        if len(starts) <= 2 * len(by_kind):
            ends = [*starts[1:], len(self.acts)]
            self.groups = [(self.acts[start], torch.empty(0)) for start in starts]
            self.runs = [(start, end - start) for start, end in zip(starts, ends, strict=True)]
            self.inverse = None
            return
        order = [slot for slots in by_kind.values() for slot in slots]
        self.groups = [(self.acts[slots[0]], torch.tensor(slots, device=device))
                       for slots in by_kind.values()]
        self.gather = torch.tensor(order, device=device)
        self.inverse = torch.argsort(self.gather)
        self.runs = []


def to_channels(x: torch.Tensor) -> torch.Tensor:
    """(M, B, C, *spatial) -> (B, M * C, *spatial)."""
    m, b, c, *spatial = x.shape
    return x.transpose(0, 1).reshape(b, m * c, *spatial)


def channels_layout(state: State) -> torch.Tensor:
    """The activation in the "channels" layout."""
    x, layout = state
    return to_channels(x) if layout == "models" else x
