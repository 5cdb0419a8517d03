"""Stacked MLPs for fused training: M same-shaped plans as one set of (M, ...) tensors.

Lifecycle: `StackedMLP.from_models` (copies each built model's initial weights in, model axis
first) -> `forward` on per-model batches (M, B, *input_shape) -> (M, B, outputs) ->
`keep(indices)` drops diverged models -> `write_back` copies each model's slice into its
`nn.Sequential`. All trainable parameters live in one flat (M, P) tensor (`flat`); the layer
tensors are views of it, so one optimizer update of `flat` updates every layer.

Supported ops: Flatten, float Linear (with or without bias), norms none / batch / layer on flat
features, parameter-free elementwise activations. Anything else raises `FusionError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import NasforgeError
from nasforge.searchspace.plan import Activation, Dropout, Flatten, Linear, NetworkPlan, Norm
from nasforge.searchspace.quantization import FLOAT_BITS

#: Parameter-free activation modules that act elementwise (so they broadcast over the model axis).
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardswish,
               nn.ELU, nn.Mish, nn.Identity)
FUSED_NORMS = ("none", "batch", "layer")


class FusionError(NasforgeError):
    """Candidates cannot be trained as one stacked model (different structure or an op the
    fused path does not support); train them one by one with `train_candidate` instead."""


@dataclass(slots=True)
class _Layer:
    kind: str  # "flatten" | "linear" | "batch" | "layer" | "act"
    names: tuple[str, ...] = ()  # parameter names within the op's module, in flat order
    module: nn.Module | None = None  # the activation module (elementwise)
    eps: float = 1e-5
    momentum: float = 0.1


def check_fusable(plan: NetworkPlan, where: str) -> None:
    """Raise `FusionError` for an op the fused MLP path cannot stack."""
    for i, op in enumerate(plan.ops):
        what = f"{where}: op {i} ({type(op).__name__})"
        if isinstance(op, Flatten):
            continue
        if isinstance(op, Linear):
            if op.weight_bits != FLOAT_BITS or op.act_bits != FLOAT_BITS:
                raise FusionError(f"{what} is quantized; fused training supports float Linear "
                                  "layers only for now. Train it with train_candidate.")
            continue
        if isinstance(op, Norm) and op.kind in FUSED_NORMS and op.dims == 0:
            continue
        if isinstance(op, Activation) and op.dims == 0:
            continue
        detail = f"dropout p={op.p}" if isinstance(op, Dropout) else repr(op)
        raise FusionError(
            f"{what} is not supported by fused training ({detail}); it stacks MLPs of "
            f"Flatten, float Linear, norms {', '.join(FUSED_NORMS)} on flat features, "
            "parameter-free activations and no dropout. Train it with train_candidate."
        )


class StackedMLP:
    """M MLPs of one plan shape as stacked tensors; see the module docstring."""

    def __init__(self, layers: list[_Layer], shapes: list[tuple[str, int, tuple[int, ...]]],
                 flat: torch.Tensor, buffers: dict[str, torch.Tensor], steps: int = 0) -> None:
        self.layers = layers
        self.shapes = shapes  # (key "op.name", offset, per-model shape) for each parameter
        self.flat = flat  # (M, P) float32, every trainable parameter of every model
        self.buffers = buffers  # "op.running_mean" / "op.running_var": (M, C)
        self.steps = steps  # batch-norm batches tracked
        self.params: dict[str, torch.Tensor] = {}
        self._views()

    @classmethod
    def from_models(cls, models: Sequence[nn.Sequential]) -> StackedMLP:
        first = models[0]
        layers: list[_Layer] = []
        shapes: list[tuple[str, int, tuple[int, ...]]] = []
        columns: list[torch.Tensor] = []
        buffers: dict[str, torch.Tensor] = {}
        offset = 0
        for i, module in enumerate(first):
            names = tuple(name for name, _ in module.named_parameters())
            for name, tensor in module.named_parameters():
                shapes.append((f"{i}.{name}", offset, tuple(tensor.shape)))
                offset += tensor.numel()
                columns.append(torch.stack([m[i].get_parameter(name).detach().reshape(-1)
                                            for m in models]))
            if isinstance(module, nn.Flatten):
                layers.append(_Layer("flatten"))
            elif isinstance(module, nn.Linear):
                layers.append(_Layer("linear", names))
            elif isinstance(module, nn.BatchNorm1d):
                if not (module.affine and module.track_running_stats and module.momentum):
                    raise FusionError(f"op {i}: batch norm must be affine with running stats.")
                for buf in ("running_mean", "running_var"):
                    buffers[f"{i}.{buf}"] = torch.stack(
                        [m[i].get_buffer(buf).detach() for m in models]).clone()
                layers.append(_Layer("batch", names, eps=module.eps, momentum=module.momentum))
            elif isinstance(module, nn.LayerNorm):
                layers.append(_Layer("layer", names, eps=module.eps))
            elif isinstance(module, ELEMENTWISE) and not names:
                layers.append(_Layer("act", module=module))
            else:
                raise FusionError(f"op {i} ({type(module).__name__}) cannot be stacked; "
                                  "train this candidate with train_candidate.")
        flat = torch.cat(columns, dim=1).contiguous()
        return cls(layers, shapes, flat, buffers)

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
        p = self.params
        for i, layer in enumerate(self.layers):
            if layer.kind == "flatten":
                x = x.flatten(2)
            elif layer.kind == "linear":
                w = p[f"{i}.weight"]  # (M, out, in)
                bias = p.get(f"{i}.bias")
                if bias is None:
                    x = torch.bmm(x, w.transpose(1, 2))
                else:
                    x = torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2))
            elif layer.kind == "batch":
                m, b, c = x.shape
                cols = x.transpose(0, 1).reshape(b, m * c)  # one column per (model, channel)
                out = F.batch_norm(cols, self.buffers[f"{i}.running_mean"].view(-1),
                                   self.buffers[f"{i}.running_var"].view(-1),
                                   p[f"{i}.weight"].reshape(-1), p[f"{i}.bias"].reshape(-1),
                                   training=training, momentum=layer.momentum, eps=layer.eps)
                x = out.view(b, m, c).transpose(0, 1)
            elif layer.kind == "layer":
                x = F.layer_norm(x, (x.shape[-1],), eps=layer.eps)
                x = torch.addcmul(p[f"{i}.bias"].unsqueeze(1), x, p[f"{i}.weight"].unsqueeze(1))
            else:
                x = layer.module(x)  # type: ignore[misc]
        return x

    def keep(self, indices: torch.Tensor) -> None:
        """Keep only the models at `indices` (a 1-D int64 tensor on flat's device)."""
        self.flat = self.flat.index_select(0, indices).contiguous()
        self.buffers = {k: v.index_select(0, indices).contiguous()
                        for k, v in self.buffers.items()}
        self._views()

    def write_back(self, slot: int, model: nn.Sequential) -> None:
        """Copy model `slot`'s parameters and buffers into `model` (built from the same plan)."""
        with torch.no_grad():
            for key, off, shape in self.shapes:
                op, name = key.split(".", 1)
                model[int(op)].get_parameter(name).copy_(
                    self.flat[slot, off : off + _numel(shape)].view(shape))
            for key, value in self.buffers.items():
                op, name = key.split(".", 1)
                model[int(op)].get_buffer(name).copy_(value[slot])
            for layer_index, layer in enumerate(self.layers):
                if layer.kind == "batch":
                    model[layer_index].get_buffer("num_batches_tracked").fill_(self.steps)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
