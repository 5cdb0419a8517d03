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

from collections.abc import Sequence

import torch
from torch import nn

from nasforge.evaluator.fused.dropout import ModelStreams
from nasforge.evaluator.fused.layers import FusedImpl, FusionError, Layer, Site, StackCtx
from nasforge.evaluator.fused.ops import fused_impl
from nasforge.searchspace.plan import NetworkPlan
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


def stack_key(plan: NetworkPlan) -> tuple[object, ...]:
    """What must be equal for plans to stack: the structure without sizes or activation
    kinds (each op's `FusedImpl.key`), the input shape and the output shape (where an op needs
    `exact_sizes`, e.g. grouped convs or quantized layers: the sizes too, as padded units
    would shift their groups or their observed ranges)."""
    ops: list[object] = []
    exact = False
    for op, sig in zip(plan.ops, plan.signature(), strict=True):
        impl = fused_impl(spec_of(op).fused)
        ops.append(sig if impl is None else impl.key(op, sig))
        exact = exact or (impl is not None and impl.exact_sizes(op))
    return (tuple(ops), plan.input_shape, plan.output_shape, plan.shapes if exact else None)


def padded_shapes(plans: Sequence[NetworkPlan]) -> tuple[tuple[int, ...], ...]:
    """Each op's output shape in the stack: the largest over the plans, per dimension."""
    return tuple(tuple(max(dims) for dims in zip(*shapes, strict=True))
                 for shapes in zip(*(plan.shapes for plan in plans), strict=True))


class StackedModel:
    """M networks of one structure as stacked tensors; see the module docstring."""

    def __init__(self, layers: list[Layer], shapes: list[tuple[str, int, tuple[int, ...]]],
                 flat: torch.Tensor, buffers: dict[str, torch.Tensor],
                 mask: torch.Tensor | None, streams: ModelStreams | None = None) -> None:
        self.layers = layers
        self.shapes = shapes  # (key "op.name", offset, padded per-model shape) per parameter
        self.flat = flat  # (M, P) float32, every trainable parameter of every model
        self.mask = mask  # (M, P): 1 for real entries, 0 for padding; None without padding
        self.buffers = buffers  # "op.running_mean" / "op.running_var": (M, C)
        self.streams = streams  # each model's random stream, when the models have dropout
        self.steps = 0  # batch-norm batches tracked
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
        first, device = models[0], next(models[0].parameters()).device
        impls: list[FusedImpl] = []
        for op in plans[0].ops:
            impl = fused_impl(spec_of(op).fused)
            assert impl is not None  # check_fusable refused NOT_STACKABLE
            impls.append(impl)
        layers: list[Layer] = []
        shapes: list[tuple[str, int, tuple[int, ...]]] = []
        columns: list[torch.Tensor] = []
        masks: list[torch.Tensor] = []
        buffers: dict[str, torch.Tensor] = {}
        offset, padded_any = 0, False
        for i, impl in enumerate(impls):
            modules = [m[i] for m in models]
            layers.append(impl.describe(Site(i, [plan.ops[i] for plan in plans], modules,
                                             [plan.shapes[i] for plan in plans], device)))
            for name, _ in first[i].named_parameters():
                tensors = [m.get_parameter(name).detach() for m in modules]
                shape = _padded_shape([t.shape for t in tensors])
                padded_any |= any(tuple(t.shape) != shape for t in tensors)
                column, real = _pad_stack(tensors, shape, 0.0)
                shapes.append((f"{i}.{name}", offset, shape))
                offset += column.shape[1]
                columns.append(column)
                masks.append(real)
            for buf, fill in layers[-1].buffers:  # (M, K): views of a row update in place
                tensors = [m.get_buffer(buf).detach().reshape(-1) for m in modules]
                stacked, _ = _pad_stack(tensors, _padded_shape([t.shape for t in tensors]),
                                        fill)
                buffers[f"{i}.{buf}"] = stacked
        flat = torch.cat(columns, dim=1).contiguous()
        mask = torch.cat(masks, dim=1).to(device) if padded_any else None
        streams: ModelStreams | None = None
        if any(layer.random for layer in layers):
            streams = ModelStreams(seeds if seeds is not None else [0] * len(models), device)
        return cls(layers, shapes, flat, buffers, mask, streams)

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

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """(M, B, *input_shape) -> (M, B, outputs); batch norm uses each model's own batch
        statistics in training (and updates its running stats), running stats otherwise."""
        state = (x, "models")
        ctx = StackCtx(self.params, self.buffers, self.size, training, self.streams)
        for layer in self.layers:
            state = layer.impl.forward(layer, state, ctx)
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
        self._views()

    def write_back(self, slot: int, model: nn.Sequential) -> None:
        """Copy model `slot`'s parameters and buffers into `model` (built from the same plan)."""
        with torch.no_grad():
            for key, off, shape in self.shapes:
                op, name = key.split(".", 1)
                target = model[int(op)].get_parameter(name)
                padded = self.flat[slot, off : off + _numel(shape)].view(shape)
                target.copy_(padded[tuple(slice(0, d) for d in target.shape)])
            for key, value in self.buffers.items():
                op, name = key.split(".", 1)
                buffer = model[int(op)].get_buffer(name)
                buffer.copy_(value[slot, : buffer.numel()].reshape(buffer.shape))
            for index, layer in enumerate(self.layers):
                for counter in layer.counters:
                    model[index].get_buffer(counter).fill_(self.steps)


def _padded_shape(shapes: Sequence[torch.Size]) -> tuple[int, ...]:
    return tuple(max(dims) for dims in zip(*shapes, strict=True))


def _pad_stack(tensors: Sequence[torch.Tensor], shape: tuple[int, ...], fill: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, prod(shape)) values (each tensor in the leading corner, `fill` elsewhere) and the
    matching 0/1 mask."""
    first = tensors[0]
    out = torch.full((len(tensors), *shape), fill, dtype=first.dtype, device=first.device)
    mask = torch.zeros((len(tensors), *shape), dtype=first.dtype)
    for row, tensor in enumerate(tensors):
        corner = tuple(slice(0, d) for d in tensor.shape)
        out[row][corner] = tensor
        mask[row][corner] = 1.0
    return out.reshape(len(tensors), -1), mask.reshape(len(tensors), -1)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
