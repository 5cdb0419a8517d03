"""Stacked networks for fused training: M plans of one structure as one set of (M, ...) tensors.

Lifecycle: `StackedModel.from_models` (copies each built model's initial weights in, model
axis first, padded to the widest model) -> `forward` on per-model batches (M, B, *input_shape)
-> (M, B, outputs) -> `keep(indices)` drops diverged models -> `write_back` copies each model's
slice into its `nn.Sequential`. All trainable parameters live in one flat (M, P) tensor
(`flat`); the layer tensors are views of it, so one optimizer update of `flat` updates every
layer.

Widths may differ (MLP hidden widths, CNN channels): each parameter is zero-padded to the
largest model's shape and `mask` (M, P) marks the real entries; the trainer multiplies the
gradient by it, so padded entries stay exactly zero. A padded unit then outputs zero before its
norm, its outgoing weights are zero, and layer norm averages over each model's real features
only: the real units compute what the model alone computes. Activations may differ per model
(they are applied to each group of models that share one).

Depth, norm kinds and dropout rates may differ too: the plans are aligned into slots
(`align`), and a model that skips a slot passes its input through (`torch.where` over the
models at linear and norm slots, `nn.Identity` at activation slots, rate 0 at dropout slots).
At a linear slot the skipping model instead multiplies by a fixed identity matrix (x @ I is
x exactly: no selection, forward or backward). At a norm slot whose running models sit side
by side (`align.stack_order` orders a stack so), the norm runs on their slice alone and the
others' rows pass by (`_run_present`: no selection, and no norm computed for models that
skip it). A skipped slot's parameters are all padding for that model (mask 0: they get no
gradient; zeros stay exactly zero, and the identity's entries, which weight decay would
shrink, are restored after every update: `restore_fixed`), and `write_back` copies only the
slots a model runs (`placement`), so they are never reported as its parameters.

Each op is stacked by the implementation its spec names (`fused`, see `ops`; `check_fusable`
asks it): Flatten, GlobalPool, Linear and Conv (1-D / 2-D, any kernel, stride and dilation;
grouped convs only at equal widths), float or fake-quantized with fixed steps (`quant`; at
equal widths), norms none / batch (flat or spatial) / layer (flat), max / avg Pool, dropout
(each model's masks from its own seeded stream: `dropout`), parameter-free elementwise
activations. Anything else (learned quantization steps, residual blocks, cells, learnable
activations, other norms: `NOT_STACKABLE`) raises `FusionError`. Convolutions run as one
grouped convolution over the (B, M * C, *spatial) layout; linear layers as batched matrix
products over (M, B, F).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.evaluator.fused.align import align, donor, gated, identity, stack_key
from nasforge.evaluator.fused.dropout import ModelStreams
from nasforge.evaluator.fused.layers import FusionError, Layer, Site, StackCtx
from nasforge.evaluator.fused.ops import fused_impl
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan import NetworkPlan
from nasforge.searchspace.plan_ops import PlanOp
from nasforge.searchspace.specs import spec_of

__all__ = ["FusionError", "StackedModel", "check_fusable", "padded_shapes", "stack_key"]


def check_fusable(plan: NetworkPlan, where: str) -> None:
    """Raise `FusionError` for an op the fused path cannot stack (its spec's `fused` is
    `NOT_STACKABLE`, or its implementation's `check` gives a reason)."""
    for i, op in enumerate(plan.ops):
        impl = fused_impl(spec_of(op).fused)
        why = (f"is not supported by fused training ({op!r})" if impl is None
               else impl.check(op))
        if why:
            raise FusionError(f"{where}: op {i} ({type(op).__name__}): {why}. Train it with "
                              "train_candidate.")


def padded_shapes(plans: Sequence[NetworkPlan]) -> tuple[tuple[int, ...], ...]:
    """Each slot's output shape in the stack of `plans` (`align.Alignment.padded_shapes`)."""
    return align(plans).padded_shapes


class StackedModel:
    """M networks of one structure as stacked tensors; see the module docstring."""

    def __init__(self, layers: list[Layer], shapes: list[tuple[str, int, tuple[int, ...]]],
                 flat: torch.Tensor, buffers: dict[str, torch.Tensor],
                 mask: torch.Tensor | None, streams: ModelStreams | None = None,
                 placement: list[list[int | None]] | None = None,
                 fixed: Fixed | None = None) -> None:
        self.layers = layers
        # model m's module for slot s: model[placement[m][s]] (None: it skips the slot)
        self.placement = placement or [list(range(len(layers)))] * flat.shape[0]
        self.shapes = shapes  # (key "op.name", offset, padded per-model shape) per parameter
        self.flat = flat  # (M, P) float32, every trainable parameter of every model
        self.mask = mask  # (M, P): 1 for real entries, 0 for padding; None without padding
        self.buffers = buffers  # "op.running_mean" / "op.running_var": (M, C)
        self.streams = streams  # each model's random stream, when the models have dropout
        self.steps = 0  # batch-norm batches tracked
        self.fixed = fixed  # (rows, columns, values) of flat's entries that never train
        self.params: dict[str, torch.Tensor] = {}
        self._views()

    @classmethod
    def from_models(cls, models: Sequence[nn.Sequential], plans: Sequence[NetworkPlan],
                    seeds: Sequence[int] | None = None) -> StackedModel:
        """Stack `models`, model m built from `plans[m]` (each op is stacked by its spec's
        `fused` implementation, chosen from the plan op); `seeds`: each model's training
        seed, whose random stream its dropout masks come from (as in `train_candidate`;
        default 0 for all). Raises `FusionError` for plans that cannot be stacked."""
        if len(plans) != len(models) or any(len(model) != len(plan.ops)
                                            for model, plan in zip(models, plans, strict=True)):
            raise FusionError("StackedModel.from_models needs one plan per model, each model "
                              "built from its plan (one module per plan op).")
        for m, plan in enumerate(plans):
            check_fusable(plan, f"model {m}")
        alignment = align(plans)
        device = next(models[0].parameters()).device
        layers: list[Layer] = []
        shapes: list[tuple[str, int, tuple[int, ...]]] = []
        columns: list[torch.Tensor] = []
        masks: list[torch.Tensor] = []
        buffers: dict[str, torch.Tensor] = {}
        offset, padded_any = 0, False
        fixed: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (model, columns, values)
        for s, slot in enumerate(alignment.slots):
            impl = fused_impl(spec_of(slot.reference).fused)
            assert impl is not None  # check_fusable refused NOT_STACKABLE
            ops = slot.stand_ins()
            modules = [models[m][i] if i is not None else _stand_in_module(ops[m])
                       for m, i in enumerate(slot.index)]
            layer = impl.describe(Site(s, ops, modules, list(slot.shapes), device))
            identities: dict[int, dict[str, torch.Tensor]] = {}
            if not slot.complete and gated(slot.reference):
                skipped = [m for m, i in enumerate(slot.index) if i is None]
                found = {m: identity(ops[m]) for m in skipped}
                if all(v is not None for v in found.values()):
                    identities = {m: v for m, v in found.items() if v is not None}
                else:
                    layer.passthrough = torch.tensor([op is not None for op in slot.ops],
                                                     device=device).view(-1, 1, 1)
                    before = alignment.padded_shapes[s - 1] if s else tuple(plans[0].input_shape)
                    layer.narrowable = (not layer.random
                                        and before == alignment.padded_shapes[s])
                    layer.narrow_present()
            layers.append(layer)
            donors = [_shapes_of(donor(op)) for op in ops]
            real = [m if i is not None else None for m, i in zip(modules, slot.index,
                                                                   strict=True)]
            for name in donors[0][0]:
                shape = _padded_shape([d[0][name] for d in donors])
                tensors = [_maybe(m, name, parameter=True) for m in real]
                padded_any |= any(t is None or tuple(t.shape) != shape for t in tensors)
                column, mask = _pad_stack(tensors, shape, 0.0, device)
                for m, values in identities.items():
                    if name in values:
                        cols, vals = _corner_entries(values[name], shape)
                        column[m, cols.to(device)] = vals.to(device, column.dtype)
                        fixed.append((m, cols + offset, vals))
                shapes.append((f"{s}.{name}", offset, shape))
                offset += column.shape[1]
                columns.append(column)
                masks.append(mask)
            for buf, fill in layer.buffers:  # (M, K): views of a row update in place
                numel = max(_numel(d[1][buf]) for d in donors)
                tensors = [None if (t := _maybe(m, buf, parameter=False)) is None
                           else t.reshape(-1) for m in real]
                buffers[f"{s}.{buf}"], _ = _pad_stack(tensors, (numel,), fill, device)
        flat = torch.cat(columns, dim=1).contiguous()
        stacked_mask = torch.cat(masks, dim=1).to(device) if padded_any else None
        streams: ModelStreams | None = None
        if any(layer.random for layer in layers):
            streams = ModelStreams(seeds if seeds is not None else [0] * len(models), device)
        placement = [[slot.index[m] for slot in alignment.slots] for m in range(len(models))]
        entries = None
        if fixed:
            rows = torch.cat([torch.full_like(cols, m) for m, cols, _ in fixed])
            entries = Fixed(rows.to(device), torch.cat([c for _, c, _ in fixed]).to(device),
                            torch.cat([v for _, _, v in fixed]).to(device, flat.dtype))
        return cls(layers, shapes, flat, buffers, stacked_mask, streams, placement, entries)

    @property
    def size(self) -> int:
        return self.flat.shape[0]

    def _views(self) -> None:
        """Leaf tensors (M, *shape) that share `flat`'s storage (updates to flat show)."""
        m = self.size
        self.params = {
            key: self.flat[:, off : off + _numel(shape)].view(m, *shape).detach()
            .requires_grad_(True)
            for key, off, shape in self.shapes
        }

    def leaves(self) -> list[torch.Tensor]:
        return list(self.params.values())

    @torch.no_grad()
    def restore_fixed(self) -> None:
        """Put back the fixed entries (skipping models' identities) after an update."""
        if self.fixed is not None:
            self.flat.index_put_((self.fixed.rows, self.fixed.columns), self.fixed.values)

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """(M, B, *input_shape) -> (M, B, outputs); batch norm uses each model's own batch
        statistics in training (and updates its running stats), running stats otherwise."""
        state = (x, "models")
        ctx = StackCtx(self.params, self.buffers, self.size, training, self.streams)
        for layer in self.layers:
            if layer.inner is not None:
                state = _run_present(layer, state, ctx)
                continue
            before = state
            state = layer.impl.forward(layer, state, ctx)
            if layer.passthrough is not None:
                state = _pass_through(layer.passthrough, state, before)
        out, layout = state
        assert layout == "models", f"the last layer left the {layout} layout"
        return out

    def keep(self, indices: torch.Tensor) -> None:
        """Keep only the models at `indices` (a 1-D int64 tensor on flat's device)."""
        self.flat = self.flat.index_select(0, indices).contiguous()
        if self.mask is not None:
            self.mask = self.mask.index_select(0, indices).contiguous()
        self.buffers = {k: v.index_select(0, indices).contiguous()
                        for k, v in self.buffers.items()}
        kept = indices.tolist()
        for layer in self.layers:
            layer.keep(kept)
        if self.streams is not None:
            self.streams.keep(kept)
        self.placement = [self.placement[k] for k in kept]
        if self.fixed is not None:
            self.fixed = self.fixed.keep(indices)
        self._views()

    def write_back(self, slot: int, model: nn.Sequential) -> None:
        """Copy model `slot`'s parameters and buffers into `model` (built from its plan); the
        slots it skips, and parameters its modules lack (a bias), are not its own."""
        where = self.placement[slot]
        with torch.no_grad():
            for key, off, shape in self.shapes:
                index, name = key.split(".", 1)
                op = where[int(index)]
                target = None if op is None else _maybe(model[op], name, parameter=True)
                if target is not None:
                    padded = self.flat[slot, off : off + _numel(shape)].view(shape)
                    target.copy_(padded[tuple(slice(0, d) for d in target.shape)])
            for key, value in self.buffers.items():
                index, name = key.split(".", 1)
                op = where[int(index)]
                if op is not None:
                    buffer = model[op].get_buffer(name)
                    buffer.copy_(value[slot, : buffer.numel()].reshape(buffer.shape))
            for position, layer in enumerate(self.layers):
                op = where[position]
                if op is not None:
                    for counter in layer.counters:
                        model[op].get_buffer(counter).fill_(self.steps)


class Fixed(NamedTuple):
    """Entries of a stack's flat (M, P) parameters that never train: at `rows`, `columns`,
    the `values` (1-D tensors on flat's device)."""

    rows: torch.Tensor
    columns: torch.Tensor
    values: torch.Tensor

    def keep(self, indices: torch.Tensor) -> Fixed | None:
        """The entries of the models at `indices`, renumbered as `StackedModel.keep` does."""
        size = max(int(self.rows.max()), int(indices.max())) + 1
        position = torch.full((size,), -1, dtype=torch.long, device=self.rows.device)
        position[indices] = torch.arange(len(indices), device=self.rows.device)
        rows = position[self.rows]
        chosen = rows >= 0
        if not bool(chosen.any()):
            return None
        return Fixed(rows[chosen], self.columns[chosen], self.values[chosen])


def _corner_entries(values: torch.Tensor, shape: tuple[int, ...]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The nonzero entries of `values` placed in the leading corner of a `shape` tensor, as
    (flat positions in that tensor, values)."""
    padded = torch.zeros(shape, dtype=values.dtype)
    padded[tuple(slice(0, d) for d in values.shape)] = values
    flat = padded.reshape(-1)
    where = torch.nonzero(flat).squeeze(1)
    return where, flat[where]


def _run_present(layer: Layer, state: tuple[torch.Tensor, str], ctx: StackCtx
                 ) -> tuple[torch.Tensor, str]:
    """A slot that only the models `layer.present` run, side by side: `layer.inner` on their
    slice (their parameter and buffer rows), the others' activations passed through as they
    are. Cheaper than computing every model and selecting (`_pass_through`)."""
    assert layer.inner is not None and layer.present is not None
    x, layout = state
    assert layout == "models", "skippable slots act on flat features"
    start, stop = layer.present
    count = stop - start
    head, part, tail = x.split([start, count, len(x) - stop])
    prefix = f"{layer.index}."
    params = {k: v.narrow(0, start, count) for k, v in ctx.params.items()
              if k.startswith(prefix)}
    buffers = {k: v.narrow(0, start, count) for k, v in ctx.buffers.items()
               if k.startswith(prefix)}
    out, layout = layer.impl.forward(layer.inner, (part, layout),
                                     StackCtx(params, buffers, count, ctx.training))
    return torch.cat([p for p in (head, out, tail) if len(p)]), layout


def _pass_through(present: torch.Tensor, state: tuple[torch.Tensor, str],
                  before: tuple[torch.Tensor, str]) -> tuple[torch.Tensor, str]:
    """The slot's output for the models in `present` (M, 1, 1), the slot's input (resized to
    the output's padded width: only padding is cut or added) for the others."""
    (out, layout), (x, previous) = state, before
    assert layout == previous == "models", "skippable slots act on flat features"
    width = out.shape[-1]
    if x.shape[-1] < width:
        x = F.pad(x, (0, width - x.shape[-1]))
    elif x.shape[-1] > width:
        x = x[..., :width]
    return torch.where(present, out, x), layout


def _stand_in_module(op: PlanOp) -> nn.Module:
    """The module of a model that skips a slot: identity for activations and dropout; for
    linear and norm slots (gated: its output is not used), the op's module on the meta
    device (no memory, no random draws)."""
    if gated(op):
        with torch.device("meta"):
            return BuildCtx().module(op)
    return nn.Identity()


@functools.lru_cache(maxsize=4096)
def _shapes_of(op: PlanOp) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(parameter shapes, buffer shapes) of `op`'s module, built on the meta device."""
    with torch.device("meta"):
        module = BuildCtx().module(op)
    return ({name: tuple(p.shape) for name, p in module.named_parameters()},
            {name: tuple(b.shape) for name, b in module.named_buffers()})


def _maybe(module: nn.Module | None, name: str, *, parameter: bool) -> torch.Tensor | None:
    if module is None:
        return None
    found = dict(module.named_parameters() if parameter else module.named_buffers())
    tensor = found.get(name)
    return None if tensor is None else tensor.detach()


def _padded_shape(shapes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    return tuple(max(dims) for dims in zip(*shapes, strict=True))


def _pad_stack(tensors: Sequence[torch.Tensor | None], shape: tuple[int, ...], fill: float,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, prod(shape)) values (each tensor in the leading corner, `fill` elsewhere and in the
    rows of None) and the matching 0/1 mask (None rows: all 0)."""
    dtype = next((t.dtype for t in tensors if t is not None), torch.float32)
    out = torch.full((len(tensors), *shape), fill, dtype=dtype, device=device)
    mask = torch.zeros((len(tensors), *shape), dtype=dtype)
    for row, tensor in enumerate(tensors):
        if tensor is None:
            continue
        corner = tuple(slice(0, d) for d in tensor.shape)
        out[row][corner] = tensor
        mask[row][corner] = 1.0
    return out.reshape(len(tensors), -1), mask.reshape(len(tensors), -1)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
