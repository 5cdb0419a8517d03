"""The stacked (fused) implementation of each op kind: the objects the op specs' and layer
specs' `fused` references name (``nasforge.evaluator.fused.ops:<NAME>``).

Op specs: FLATTEN, LINEAR, CONV, NORM, ACTIVATION, DROPOUT, POOL, GLOBAL_POOL (cells and
residual blocks are `NOT_STACKABLE`). NORM and ACTIVATION hand over to the layer spec of the
op's kind: its `fused` is a reference (BATCH_NORM, LAYER_NORM here), `ELEMENTWISE` (the
shared `ELEMENTWISE_LAYER`: each model's own parameter-free module on its slice, models
grouped by module) or `NOT_STACKABLE`. Each implementation fulfils `layers.FusedImpl`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F

from nasforge.evaluator.fused.dropout import stacked_dropout
from nasforge.evaluator.fused.layers import (
    FusedImpl,
    FusionError,
    Layer,
    Op,
    Site,
    StackCtx,
    State,
    channels_layout,
)
from nasforge.evaluator.fused.quant import ACT_BUFFERS, fake_quant_rows
from nasforge.searchspace.layers.quant import fake_quant_weight
from nasforge.searchspace.ops.padding import same_padding
from nasforge.searchspace.quantization import FLOAT_BITS
from nasforge.searchspace.specs import (
    ACTIVATIONS,
    ELEMENTWISE,
    NORMS,
    NOT_STACKABLE,
    LayerSpec,
    resolve,
)

_CONVS = {1: F.conv1d, 2: F.conv2d}


def fused_impl(ref: Any) -> FusedImpl | None:
    """The implementation a spec's `fused` names; None for `NOT_STACKABLE`."""
    if ref is NOT_STACKABLE:
        return None
    if ref is ELEMENTWISE:
        return ELEMENTWISE_LAYER
    return resolve(ref)


class Flatten(Op):
    def describe(self, site: Site) -> Layer:
        return Layer(self, site.index)

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, layout = state
        if layout == "channels":
            return x.view(x.shape[0], ctx.m, -1).transpose(0, 1), "models"
        return x.flatten(2), "models"


class Dropout(Op):
    """Each model's masks, at its own rate, from its own random stream
    (`dropout.stacked_dropout`), over its real units only."""

    def key(self, op: Any, sig: object) -> object:
        return (type(op).__name__,)  # rates may differ per model

    def skip_kind(self, op: Any) -> object | None:
        return (type(op).__name__,)

    def stand_in(self, op: Any, width: int) -> Any:
        return dataclasses.replace(op, p=0.0)  # draws nothing

    def per_model_random(self, op: Any) -> bool:
        return True

    def describe(self, site: Site) -> Layer:
        return Layer(self, site.index, options={"p": [float(op.p) for op in site.ops],
                                                "shapes": list(site.shapes)},
                     random=True, model_options=("p", "shapes"))

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, layout = state
        if not ctx.training:
            return state
        assert ctx.streams is not None, "dropout needs the models' random streams"
        return stacked_dropout(x, layout, ctx.m, layer.options["p"], ctx.streams,
                               layer.options["shapes"]), layout


class Pool(Op):
    """Max / avg pooling: model 0's (parameter-free) module over the channels layout."""

    def describe(self, site: Site) -> Layer:
        return Layer(self, site.index, module=site.modules[0])

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        assert layer.module is not None
        return layer.module(channels_layout(state)), "channels"


class GlobalPool(Op):
    def describe(self, site: Site) -> Layer:
        return Layer(self, site.index, options={"dims": site.ops[0].dims})

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x = channels_layout(state)
        pooled = x.mean(dim=tuple(range(2, 2 + layer.options["dims"])))  # (B, M * C)
        return pooled.view(x.shape[0], ctx.m, -1).transpose(0, 1), "models"


class _Weighted(Op):
    """Linear and conv: float, or fake-quantized with fixed steps (one observer per model)."""

    def check(self, op: Any) -> str | None:
        if op.learned_step and not op.weight_bits == op.act_bits == FLOAT_BITS:
            return ("it learns its quantization steps (LSQ); fused training stacks fixed-step "
                    "quantizers only")
        return None

    def exact_sizes(self, op: Any) -> bool:
        return not op.weight_bits == op.act_bits == FLOAT_BITS

    @staticmethod
    def quantized(layer: Layer, op: Any, inner: str) -> Layer:
        """The layer's bit widths and the observer buffers of its input quantizer
        (`inner`: the quantized module's name prefix inside the op's module)."""
        if op.weight_bits == op.act_bits == FLOAT_BITS:
            return layer
        layer.act_bits, layer.weight_bits = int(op.act_bits), int(op.weight_bits)
        layer.buffers = tuple((f"{inner}input_quant.{name}", 0.0)
                              for name in ACT_BUFFERS.get(layer.act_bits, ()))
        return layer

    @staticmethod
    def quantize_input(layer: Layer, x: torch.Tensor, layout: str, ctx: StackCtx
                       ) -> torch.Tensor:
        """The input fake-quantized per model (each model's activations are one row)."""
        if layer.act_bits == FLOAT_BITS:
            return x
        prefix, m = f"{layer.index}.", ctx.m
        state = {name.rsplit(".", 1)[1]: ctx.buffers[prefix + name].view(-1)
                 for name, _ in layer.buffers}
        if layout == "models":
            return fake_quant_rows(x.reshape(m, -1), layer.act_bits, state,
                                   ctx.training).view(x.shape)
        b = x.shape[0]
        rows = x.view(b, m, -1).transpose(0, 1).reshape(m, -1)
        out = fake_quant_rows(rows, layer.act_bits, state, ctx.training)
        return out.view(m, b, -1).transpose(0, 1).reshape(x.shape)


class Linear(_Weighted):
    """Batched matrix products over the models layout; any two linears (bias or not, any
    sizes) may share a skipped slot, where a skipping model multiplies by a fixed identity."""

    def skip_kind(self, op: Any) -> object | None:
        return (type(op).__name__,)

    def gated(self, op: Any) -> bool:
        return True

    def stand_in(self, op: Any, width: int) -> Any:
        return dataclasses.replace(op, in_features=width, out_features=width)

    def identity(self, op: Any) -> dict[str, torch.Tensor] | None:
        """An identity matrix: x @ I is x exactly (each output is one input times 1 plus
        zeros), cheaper than selecting per model; quantized weights would not be exact."""
        if not op.weight_bits == op.act_bits == FLOAT_BITS:
            return None
        return {"weight": torch.eye(op.out_features, op.in_features)}

    def donor(self, op: Any) -> Any:
        return dataclasses.replace(op, bias=True)  # the bias is padding for those without

    def describe(self, site: Site) -> Layer:
        return self.quantized(Layer(self, site.index, key=str(site.index)), site.ops[0], "")

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, layout = state
        w, bias = ctx.params[f"{layer.key}.weight"], ctx.params.get(f"{layer.key}.bias")
        x = self.quantize_input(layer, x, layout, ctx)
        if layer.weight_bits != FLOAT_BITS:
            w = fake_quant_weight(w.reshape(-1, w.shape[-1]), layer.weight_bits).view(w.shape)
        if bias is None:
            return torch.bmm(x, w.transpose(1, 2)), "models"
        return torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2)), "models"


class Conv(_Weighted):
    """One grouped convolution over the channels layout ('same' padding as built: a zero
    pad in front when the dilated kernel span is even, its conv then module "1")."""

    def exact_sizes(self, op: Any) -> bool:
        return op.groups > 1 or super().exact_sizes(op)

    def describe(self, site: Site) -> Layer:
        op = site.ops[0]
        padding = same_padding(op.kernel, op.dilation)
        inner = "1." if padding.asymmetric else ""
        if f"{inner}weight" not in dict(site.modules[0].named_parameters()):
            raise FusionError(f"op {site.index}: the built conv has no parameter "
                              f"'{inner}weight'; the stacked conv expects the layout of "
                              "searchspace.ops.conv.build (a zero pad, then the conv, for an "
                              "even kernel span).")
        layer = Layer(self, site.index, key=f"{site.index}.{inner}".rstrip("."),
                      fn=_CONVS[op.dims],
                      options={"stride": op.stride, "padding": padding.symmetric,
                               "dilation": op.dilation, "groups": op.groups,
                               "pad": padding.pad(op.dims) if padding.asymmetric else None})
        return self.quantized(layer, op, inner)

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, opts = channels_layout(state), layer.options
        if opts["pad"] is not None:
            x = F.pad(x, opts["pad"])
        w, bias = ctx.params[f"{layer.key}.weight"], ctx.params.get(f"{layer.key}.bias")
        w = w.reshape(-1, *w.shape[2:])  # (M * C_out, C_in / groups, *kernel)
        x = self.quantize_input(layer, x, "channels", ctx)
        if layer.weight_bits != FLOAT_BITS:
            w = fake_quant_weight(w, layer.weight_bits)
        assert layer.fn is not None
        x = layer.fn(x, w, None if bias is None else bias.reshape(-1), opts["stride"],
                     opts["padding"], opts["dilation"], ctx.m * opts["groups"])
        return x, "channels"


class Elementwise(Op):
    """Parameter-free elementwise layers (`specs.ELEMENTWISE`): each model's own module on its
    slice, one call per group of models with equal modules. Kinds may differ per model."""

    def key(self, op: Any, sig: object) -> object:
        return (type(op).__name__, op.dims)

    def describe(self, site: Site) -> Layer:
        if any(list(module.parameters()) for module in site.modules):
            kinds = ", ".join(sorted({op.kind for op in site.ops}))
            raise FusionError(f"op {site.index} ({kinds}) is registered as elementwise but "
                              "has parameters; register it NOT_STACKABLE (or give it a "
                              "stacked implementation).")
        layer = Layer(self, site.index, acts=list(site.modules), device=site.device)
        layer.group(site.device)
        return layer

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, layout = state
        if layer.inverse is None and not layer.runs:
            return layer.groups[0][0](x), layout
        axis, shape = (0 if layout == "models" else 1), x.shape
        if axis == 1:  # channels layout: (B, M * C, ...) -> (B, M, C, ...)
            x = x.view(shape[0], ctx.m, -1, *shape[2:])
        if layer.runs:  # runs side by side: one split into views (its backward is one cat)
            parts = x.split([length for _, length in layer.runs], axis)
        elif axis == 0:  # one gather, then views (a gather per kind: an input-sized backward each)
            assert layer.gather is not None
            parts = x.index_select(0, layer.gather).split([len(s) for _, s in layer.groups])
        else:  # a view along axis 1 is strided, and some kernels round differently there
            parts = tuple(x.index_select(1, slots) for _, slots in layer.groups)
        out = torch.cat([act(p) for (act, _), p in zip(layer.groups, parts, strict=True)], axis)
        if layer.inverse is not None:
            out = out.index_select(axis, layer.inverse)  # back in stack order
        return out.view(shape), layout


class BatchNorm(Op):
    """Batch norm over each model's own batch, per (model, channel) column; flat or spatial."""

    def describe(self, site: Site) -> Layer:
        if not all(m.affine and m.track_running_stats and m.momentum for m in site.modules):
            raise FusionError(f"op {site.index}: batch norm must be affine with running "
                              "statistics.")
        first = site.modules[0]
        return Layer(self, site.index, key=str(site.index),
                     options={"eps": first.eps, "momentum": first.momentum},
                     buffers=(("running_mean", 0.0), ("running_var", 1.0)),
                     counters=("num_batches_tracked",))

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x, layout = state
        key, params, buffers = layer.key, ctx.params, ctx.buffers
        args = (buffers[f"{key}.running_mean"].view(-1), buffers[f"{key}.running_var"].view(-1),
                params[f"{key}.weight"].reshape(-1), params[f"{key}.bias"].reshape(-1))
        opts = {"training": ctx.training, "momentum": layer.options["momentum"],
                "eps": layer.options["eps"]}
        if layout == "channels":
            return F.batch_norm(x, *args, **opts), layout
        _, b, c = x.shape
        cols = x.transpose(0, 1).reshape(b, ctx.m * c)  # one column per (model, channel)
        out = F.batch_norm(cols, *args, **opts).view(b, ctx.m, c).transpose(0, 1)
        return out.contiguous(), layout  # a strided one sends elementwise kernels down slow paths


class LayerNorm(Op):
    """Layer norm on flat features; padded models average over their real features only."""

    def check(self, op: Any) -> str | None:
        if op.dims:
            return ("layer norm stacks on flat features only, not over "
                    f"{op.dims} spatial axes")
        return None

    def describe(self, site: Site) -> Layer:
        layer = Layer(self, site.index, key=str(site.index),
                      options={"eps": site.modules[0].eps})
        widths = [op.channels for op in site.ops]
        if len(set(widths)) > 1:
            layer.counts = torch.tensor(widths, dtype=torch.float32,
                                        device=site.device).view(-1, 1, 1)
            layer.features = (torch.arange(max(widths), device=site.device)
                              < layer.counts).float()
        return layer

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        x = state[0]
        eps = float(layer.options["eps"])
        weight, bias = ctx.params[f"{layer.key}.weight"], ctx.params[f"{layer.key}.bias"]
        if layer.counts is None or layer.features is None:
            x = F.layer_norm(x, (x.shape[-1],), eps=eps)
        else:  # padded features are exactly zero: the sums need no mask, the variance does
            mean = x.sum(-1, keepdim=True) / layer.counts
            centred = x - mean
            var = (centred.square() * layer.features).sum(-1, keepdim=True) / layer.counts
            x = centred * torch.rsqrt(var + eps)
        return torch.addcmul(bias.unsqueeze(1), x, weight.unsqueeze(1)), "models"


class ByKind(Op):
    """Norm / Activation ops: the stacked implementation of the op's layer kind."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.registry = NORMS if role == "norm" else ACTIVATIONS

    def impl(self, op: Any) -> FusedImpl | None:
        return fused_impl(self.registry.get(op.kind).fused)

    def check(self, op: Any) -> str | None:
        impl = self.impl(op)
        if impl is not None:
            return impl.check(op)
        spec: LayerSpec = self.registry.get(op.kind)
        names = [n for n in self.registry.names()
                 if self.registry.get(n).fused is not NOT_STACKABLE]
        if self.role == "activation" and spec.count_params(op.channels, op.dims):
            return (f"activation {op.kind!r} has learnable parameters; fused training stacks "
                    f"parameter-free activations only ({', '.join(names)})")
        return (f"{self.role} {op.kind!r} is not stackable ({op!r}); the stackable "
                f"{self.role}s are {', '.join(names) or 'none'}")

    def key(self, op: Any, sig: object) -> object:
        impl = self.impl(op)
        return sig if impl is None else impl.key(op, sig)

    def exact_sizes(self, op: Any) -> bool:
        impl = self.impl(op)
        return impl is not None and impl.exact_sizes(op)

    def skip_kind(self, op: Any) -> object | None:
        """One slot per stacked implementation (batch and layer norm apart)."""
        return (type(op).__name__, type(self.impl(op)).__name__)

    def gated(self, op: Any) -> bool:
        return self.role == "norm"  # an activation's stand-in is nn.Identity

    def stand_in(self, op: Any, width: int) -> Any:
        return dataclasses.replace(op, channels=width)

    def groups_by_kind(self, op: Any) -> bool:
        return self.role == "activation"

    def describe(self, site: Site) -> Layer:
        impls = {id(impl): impl for impl in map(self.impl, site.ops)}
        if len(impls) != 1 or None in impls.values():
            kinds = ", ".join(sorted({op.kind for op in site.ops}))
            raise FusionError(f"op {site.index}: the models' {self.role}s here ({kinds}) have "
                              "no common stacked implementation; they cannot be stacked.")
        impl = next(iter(impls.values()))
        assert impl is not None
        return impl.describe(site)

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        raise AssertionError("a Norm / Activation layer runs its kind's implementation")


FLATTEN = Flatten()
LINEAR = Linear()
CONV = Conv()
NORM = ByKind("norm")
ACTIVATION = ByKind("activation")
DROPOUT = Dropout()
POOL = Pool()
GLOBAL_POOL = GlobalPool()
ELEMENTWISE_LAYER = Elementwise()
BATCH_NORM = BatchNorm()
LAYER_NORM = LayerNorm()
