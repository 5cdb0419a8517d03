"""The layers of a stacked model (`stack.StackedModel`): what each op is, and its forward.

A stacked activation travels in one of two layouts:

- "models": (M, B, *shape), model axis first: the input, flat features (linear layers run as
  batched matrix products `bmm` over it);
- "channels": (B, M * C, *spatial), the models' channels side by side: convolutions run as
  one grouped convolution over it, batch norm, pools and activations act per channel.

`layer_forward` converts between them where an op needs the other one. Parameters come from
the stack's views ("op.name" -> (M, *padded shape)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.evaluator.fused.dropout import ModelStreams, stacked_dropout
from nasforge.evaluator.fused.quant import ACT_BUFFERS, fake_quant_rows
from nasforge.searchspace.layers.portable.composite import GlobalAvgPool
from nasforge.searchspace.layers.quant import fake_quant_weight
from nasforge.searchspace.quantization import FLOAT_BITS

#: Parameter-free activation modules that act elementwise (so they apply per model slice).
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardswish,
               nn.ELU, nn.Mish, nn.Identity, nn.CELU, nn.SELU, nn.Softplus)
_CONVS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d}
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)

State = tuple[torch.Tensor, str]  # (activation, layout)


@dataclass(slots=True)
class Layer:
    """One op of the stack. `key`: its parameter-name prefix ("3" or "3.1" for a padded
    conv); `module`: a parameter-free module applied as is (pool, zero pad); `acts`: each
    model's activation module; for layer norm with padding, `counts` (M, 1, 1) real features
    and `features` (M, 1, C) a 0/1 mask of them."""

    kind: str  # flatten | global_pool | linear | conv | pool | batch | layer | act | dropout
    index: int
    key: str = ""
    module: nn.Module | None = None
    conv: Callable[..., torch.Tensor] | None = None
    options: dict[str, object] = field(default_factory=dict)
    acts: list[nn.Module] = field(default_factory=list)
    groups: list[tuple[nn.Module, torch.Tensor]] = field(default_factory=list)
    inverse: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    features: torch.Tensor | None = None
    buffers: tuple[tuple[str, float], ...] = ()  # (name in the op's module, padding fill)
    weight_bits: int = FLOAT_BITS
    act_bits: int = FLOAT_BITS

    def keep(self, kept: list[int]) -> None:
        """Keep only the models at the `kept` positions (in that order)."""
        if self.acts:
            self.acts = [self.acts[k] for k in kept]
            self._group(self.inverse.device if self.inverse is not None else None)
        if self.counts is not None and self.features is not None:
            index = torch.tensor(kept, device=self.counts.device)
            self.counts = self.counts.index_select(0, index)
            self.features = self.features.index_select(0, index)

    def _group(self, device: torch.device | None) -> None:
        """Models that share an activation, grouped; one group needs no regrouping."""
        by_kind: dict[str, list[int]] = {}
        for slot, act in enumerate(self.acts):
            by_kind.setdefault(repr(act), []).append(slot)
        if len(by_kind) == 1:
            self.groups, self.inverse = [(self.acts[0], torch.empty(0))], None
            return
        order = [slot for slots in by_kind.values() for slot in slots]
        self.groups = [(self.acts[slots[0]], torch.tensor(slots, device=device))
                       for slots in by_kind.values()]
        self.inverse = torch.argsort(torch.tensor(order, device=device))


def describe(index: int, modules: Sequence[nn.Module], error: type[Exception],
             device: torch.device) -> Layer:
    """The stacked layer for op `index` of every model (`modules[m]` is model m's op)."""
    first = modules[0]
    if not isinstance(first, ELEMENTWISE) and any(type(m) is not type(first) for m in modules):
        raise error(f"op {index}: the models have different layer types here; they cannot "
                    "be stacked.")
    if isinstance(first, nn.Flatten):
        return Layer("flatten", index)
    if isinstance(first, nn.Dropout):
        return Layer("dropout", index, options={"p": first.p})
    if isinstance(first, GlobalAvgPool):
        return Layer("global_pool", index, options={"dims": first.dims})
    if isinstance(first, nn.Linear):
        return _quantized(Layer("linear", index, key=str(index)), first, "", error)
    pad, conv, inner = None, first, ""
    if isinstance(first, nn.Sequential) and len(first) == 2:  # (ZeroPad, Conv): even kernels
        pad, conv, inner = first[0], first[1], "1."
    kind = next((k for k in _CONVS if isinstance(conv, k)), None)
    if kind is not None and conv.padding_mode == "zeros":  # type: ignore[union-attr]
        assert isinstance(conv, nn.Conv1d | nn.Conv2d)
        layer = Layer("conv", index, key=f"{index}.{inner}".rstrip("."), module=pad,
                      conv=_CONVS[kind], options={"stride": conv.stride, "padding": conv.padding,
                                                  "dilation": conv.dilation,
                                                  "groups": conv.groups})
        return _quantized(layer, conv, inner, error)
    if isinstance(first, _POOLS):
        return Layer("pool", index, module=first)
    if isinstance(first, nn.BatchNorm1d | nn.BatchNorm2d):
        if not all(m.affine and m.track_running_stats and m.momentum  # type: ignore[union-attr]
                   for m in modules):
            raise error(f"op {index}: batch norm must be affine with running statistics.")
        return Layer("batch", index, key=str(index),
                     options={"eps": first.eps, "momentum": first.momentum},
                     buffers=(("running_mean", 0.0), ("running_var", 1.0)))
    if isinstance(first, nn.LayerNorm) and len(first.normalized_shape) == 1:
        widths = [m.normalized_shape[0] for m in modules]  # type: ignore[union-attr]
        layer = Layer("layer", index, key=str(index), options={"eps": first.eps})
        if len(set(widths)) > 1:
            wide = max(widths)
            layer.counts = torch.tensor(widths, dtype=torch.float32,
                                        device=device).view(-1, 1, 1)
            layer.features = (torch.arange(wide, device=device) < layer.counts).float()
        return layer
    if all(isinstance(m, ELEMENTWISE) and not list(m.parameters()) for m in modules):
        layer = Layer("act", index, acts=list(modules))
        layer._group(device)
        return layer
    kinds = ", ".join(sorted({type(m).__name__ for m in modules}))
    raise error(f"op {index} ({kinds}) cannot be stacked; train this candidate with "
                "train_candidate.")


def _quantized(layer: Layer, module: nn.Module, inner: str, error: type[Exception]) -> Layer:
    """The layer's bit widths and observer buffers when `module` is a quantized layer."""
    act, weight = getattr(module, "input_quant", None), getattr(module, "weight_quant", None)
    if act is None or weight is None:
        return layer
    if act.learned_step or weight.learned_step:
        raise error(f"op {layer.index}: learned quantization steps (LSQ) are not stacked; "
                    "train this candidate with train_candidate.")
    layer.act_bits, layer.weight_bits = int(act.bits), int(weight.bits)
    layer.buffers = tuple((f"{inner}input_quant.{name}", 0.0)
                          for name in ACT_BUFFERS.get(layer.act_bits, ()))
    return layer


def _quantize_input(layer: Layer, x: torch.Tensor, layout: str, buffers: dict[str, torch.Tensor],
                    m: int, training: bool) -> torch.Tensor:
    """The layer's input fake-quantized per model (each model's activations are one row)."""
    prefix = f"{layer.index}."
    state = {name.rsplit(".", 1)[1]: buffers[prefix + name].view(-1) for name, _ in layer.buffers}
    if layout == "models":
        return fake_quant_rows(x.reshape(m, -1), layer.act_bits, state, training).view(x.shape)
    b = x.shape[0]
    rows = x.view(b, m, -1).transpose(0, 1).reshape(m, -1)
    out = fake_quant_rows(rows, layer.act_bits, state, training)
    return out.view(m, b, -1).transpose(0, 1).reshape(x.shape)


def layer_forward(layer: Layer, state: State, params: dict[str, torch.Tensor],
                  buffers: dict[str, torch.Tensor], m: int, training: bool,
                  streams: ModelStreams | None = None) -> State:
    """Apply one stacked layer; returns the new (activation, layout). `streams`: the models'
    random streams, for dropout in training."""
    x, layout = state
    kind = layer.kind
    if kind == "dropout":
        if not training:
            return x, layout
        assert streams is not None, "dropout needs the models' random streams"
        shapes = layer.options.get("shapes")
        return stacked_dropout(x, layout, m, float(layer.options["p"]),  # type: ignore[arg-type]
                               streams, shapes), layout  # type: ignore[arg-type]
    if kind == "flatten":
        if layout == "channels":
            return x.view(x.shape[0], m, -1).transpose(0, 1), "models"
        return x.flatten(2), "models"
    if kind == "linear":
        w, bias = params[f"{layer.key}.weight"], params.get(f"{layer.key}.bias")
        if layer.act_bits != FLOAT_BITS:
            x = _quantize_input(layer, x, layout, buffers, m, training)
        if layer.weight_bits != FLOAT_BITS:
            w = fake_quant_weight(w.reshape(-1, w.shape[-1]), layer.weight_bits).view(w.shape)
        if bias is None:
            return torch.bmm(x, w.transpose(1, 2)), "models"
        return torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2)), "models"
    if kind == "layer":
        return _layer_norm(layer, x, params), "models"
    if kind == "batch":
        return _batch_norm(layer, x, layout, params, buffers, m, training), layout
    if layout == "models" and kind in ("conv", "pool", "global_pool"):
        x, layout = to_channels(x), "channels"
    if kind == "conv":
        if layer.module is not None:
            x = layer.module(x)
        w, bias = params[f"{layer.key}.weight"], params.get(f"{layer.key}.bias")
        w = w.reshape(-1, *w.shape[2:])  # (M * C_out, C_in / groups, *kernel)
        if layer.act_bits != FLOAT_BITS:
            x = _quantize_input(layer, x, layout, buffers, m, training)
        if layer.weight_bits != FLOAT_BITS:
            w = fake_quant_weight(w, layer.weight_bits)
        opts = layer.options
        assert layer.conv is not None
        x = layer.conv(x, w, None if bias is None else bias.reshape(-1),
                       opts["stride"], opts["padding"], opts["dilation"],
                       m * opts["groups"])  # type: ignore[operator]
        return x, "channels"
    if kind == "pool":
        assert layer.module is not None
        return layer.module(x), "channels"
    if kind == "global_pool":
        dims = int(layer.options["dims"])  # type: ignore[call-overload]
        pooled = x.mean(dim=tuple(range(2, 2 + dims)))  # (B, M * C)
        return pooled.view(x.shape[0], m, -1).transpose(0, 1), "models"
    return _activation(layer, x, 0 if layout == "models" else 1, m), layout


def to_channels(x: torch.Tensor) -> torch.Tensor:
    """(M, B, C, *spatial) -> (B, M * C, *spatial)."""
    m, b, c, *spatial = x.shape
    return x.transpose(0, 1).reshape(b, m * c, *spatial)


def _activation(layer: Layer, x: torch.Tensor, axis: int, m: int) -> torch.Tensor:
    if layer.inverse is None:
        return layer.groups[0][0](x)
    shape = x.shape
    if axis == 1:  # channels layout: (B, M * C, ...) -> (B, M, C, ...)
        x = x.view(shape[0], m, -1, *shape[2:])
    pieces = [act(x.index_select(axis, slots)) for act, slots in layer.groups]
    return torch.cat(pieces, axis).index_select(axis, layer.inverse).view(shape)


def _layer_norm(layer: Layer, x: torch.Tensor, params: dict[str, torch.Tensor]
                ) -> torch.Tensor:
    eps = float(layer.options["eps"])  # type: ignore[arg-type]
    weight, bias = params[f"{layer.key}.weight"], params[f"{layer.key}.bias"]
    if layer.counts is None or layer.features is None:
        x = F.layer_norm(x, (x.shape[-1],), eps=eps)
    else:  # padded features are exactly zero: the sums need no mask, the variance does
        mean = x.sum(-1, keepdim=True) / layer.counts
        centred = x - mean
        var = (centred.square() * layer.features).sum(-1, keepdim=True) / layer.counts
        x = centred * torch.rsqrt(var + eps)
    return torch.addcmul(bias.unsqueeze(1), x, weight.unsqueeze(1))


def _batch_norm(layer: Layer, x: torch.Tensor, layout: str, params: dict[str, torch.Tensor],
                buffers: dict[str, torch.Tensor], m: int, training: bool) -> torch.Tensor:
    key = layer.key
    args = (buffers[f"{key}.running_mean"].view(-1), buffers[f"{key}.running_var"].view(-1),
            params[f"{key}.weight"].reshape(-1), params[f"{key}.bias"].reshape(-1))
    opts = {"training": training, "momentum": layer.options["momentum"],
            "eps": layer.options["eps"]}
    if layout == "channels":
        return F.batch_norm(x, *args, **opts)  # type: ignore[arg-type]
    _, b, c = x.shape
    cols = x.transpose(0, 1).reshape(b, m * c)  # one column per (model, channel)
    return F.batch_norm(cols, *args, **opts).view(b, m, c).transpose(0, 1)  # type: ignore[arg-type]
