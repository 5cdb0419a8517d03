"""Gradient-based zero-cost proxies, as defined by Abdelfattah et al., "Zero-Cost Proxies for
Lightweight NAS" (ICLR 2021), over the weights of every layer (`modules.weights`):

- grad_norm: sum over weights of ||dL/dW||_2 (L: the task loss on one mini-batch).
- snip (Lee et al. 2019, "SNIP"): sum over weights of |dL/dW * W|.
- fisher (Theis et al. 2018; Turner et al. 2020): for each activation layer's output z,
  sum over channels of 0.5 * mean_n (sum over positions of z * dL/dz)^2.
- synflow (Tanaka et al. 2020, "Pruning neural networks without any data"): with every
  parameter replaced by its absolute value, norms removed and float64 (float32 where a layer
  has no float64 kernel, e.g. fake-quant), R = sum(f(1)) for an
  all-ones input; score = sum over weights of |dR/dW * W|. Abdelfattah et al. report Spearman
  rho 0.82 with NAS-Bench-201 CIFAR-10 accuracy, the best of the proxies they compare.

Each receives a private copy of the model (`spec.score`) and may change it.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from nasforge.proxies.modules import (
    activations,
    flat_output,
    needs_activations,
    norms,
    task_loss,
    weights,
)
from nasforge.proxies.spec import PROXIES, ProxyBatch, ProxySpec


def _weight_grads(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, its gradient) in float64, for the weights the backward pass reached."""
    return [(w.detach().double(), w.grad.double()) for w in weights(model)
            if w.grad is not None]


def _backward_loss(model: nn.Module, batch: ProxyBatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    task_loss(model(batch.x), batch).backward()
    return _weight_grads(model)


def grad_norm(model: nn.Module, batch: ProxyBatch) -> float:
    return float(sum(g.norm().item() for _, g in _backward_loss(model, batch)))


def snip(model: nn.Module, batch: ProxyBatch) -> float:
    return float(sum((g * w).abs().sum().item() for w, g in _backward_loss(model, batch)))


def fisher(model: nn.Module, batch: ProxyBatch) -> float:
    outputs: list[torch.Tensor] = []
    grads: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            outputs.append(output.detach())
            output.register_hook(functools.partial(_put, grads, len(grads)))
            grads.append(torch.zeros(0))

    handles = [m.register_forward_hook(keep) for m in activations(model)]
    try:
        model.zero_grad(set_to_none=True)
        task_loss(model(batch.x), batch).backward()
    finally:
        for handle in handles:
            handle.remove()
    total = torch.zeros((), dtype=torch.float64)
    for z, g in zip(outputs, grads, strict=True):
        if g.numel() == 0:  # its output did not reach the loss
            continue
        per_channel = (z.double() * g.double()).reshape(z.shape[0], z.shape[1], -1).sum(-1)
        total = total + (0.5 * per_channel.pow(2).mean(0)).sum().cpu()
    return float(total)


def _put(grads: list[torch.Tensor], at: int, grad: torch.Tensor) -> None:
    grads[at] = grad.detach()


def synflow(model: nn.Module, batch: ProxyBatch) -> float:
    pristine = copy.deepcopy(model)
    try:
        return _synflow(model, batch, torch.float64)
    except RuntimeError:  # a layer without float64 kernels (fake-quant): the paper's float32
        return _synflow(pristine, batch, torch.float32)


def _synflow(model: nn.Module, batch: ProxyBatch, dtype: torch.dtype) -> float:
    _remove_norms(model)
    model.eval()  # no dropout: the linearised network is deterministic
    model.to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *batch.x.shape[1:]), dtype=dtype, device=batch.x.device)
    flat_output(model(ones)).sum().backward()
    return float(sum((g * w).abs().sum().item() for w, g in _weight_grads(model)))


def _remove_norms(model: nn.Module) -> None:
    """Replace every norm layer by identity: synflow is defined without batch norm
    (Abdelfattah et al. build the network without it), and a per-sample norm of an all-ones
    input would be zero."""
    targets = set(map(id, norms(model)))
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if id(child) in targets:
                setattr(parent, child_name, nn.Identity())


PROXIES.register("grad_norm", ProxySpec(
    "grad_norm", grad_norm, "sum of the loss gradient's norm per weight (Abdelfattah et al. "
    "2021)"))
PROXIES.register("snip", ProxySpec(
    "snip", snip, "SNIP saliency sum |dL/dW * W| (Lee et al. 2019; Abdelfattah et al. 2021)"))
PROXIES.register("fisher", ProxySpec(
    "fisher", fisher, "Fisher information of the activations (Turner et al. 2020; Abdelfattah "
    "et al. 2021)", applies=needs_activations))
PROXIES.register("synflow", ProxySpec(
    "synflow", synflow, "synaptic flow of the |W| network on an all-ones input (Tanaka et al. "
    "2020; Abdelfattah et al. 2021)"))
