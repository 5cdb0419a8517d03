"""Zero-cost proxies that read a network's response to inputs rather than its weight gradients:

- jacob_cov (Mellor et al., "Neural Architecture Search without Training", 2020, v1; as
  evaluated by Abdelfattah et al. 2021): J = the input gradient of the summed output per
  sample, (N, D); with eigenvalues v of corrcoef(J), score = -sum(log(v + k) + 1 / (v + k)),
  k = 1e-5 (a network that tells samples apart has uncorrelated Jacobians).
- naswot (Mellor et al., ICML 2021): each sample's binary code c (1 where an activation
  layer's input is positive, over every activation layer); K = c c^T + (1 - c)(1 - c)^T
  counts agreeing units between samples; score = log|det K|. For ReLU this is the paper's
  linear-region code; for other activations the sign of their input plays its role.
- zen (Lin et al., "Zen-NAS", ICCV 2021): weights drawn from N(0, 1) (norm affines 1 and
  0, biases 0), x and e from N(0, 1); score = log E|f(x) - f(x + 0.01 e)| + sum over batch
  norms of log sqrt(mean batch variance of its input). f is the network's output (the paper
  uses the feature map before global pooling; the classifier is one more linear map).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nasforge.proxies.modules import activations, flat_output, needs_activations, norms, weights
from nasforge.proxies.spec import PROXIES, ProxyBatch, ProxySpec

_JACOB_K = 1e-5
_ZEN_ALPHA = 0.01


def jacob_cov(model: nn.Module, batch: ProxyBatch) -> float:
    x = batch.x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    output = flat_output(model(x))
    if not output.requires_grad:
        return -math.inf  # the output does not depend on the input: nothing told apart
    output.backward(torch.ones_like(output))
    if x.grad is None:
        return -math.inf
    jacobians = x.grad.reshape(len(x), -1).double().cpu().numpy()
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jacobians)
    if not np.all(np.isfinite(corr)):
        return -math.inf  # a sample with a constant Jacobian: nothing told apart
    eigenvalues = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eigenvalues + _JACOB_K) + 1.0 / (eigenvalues + _JACOB_K)))


def naswot(model: nn.Module, batch: ProxyBatch) -> float:
    n = len(batch.x)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=batch.x.device)

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        nonlocal kernel
        if not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        code = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel = kernel + code @ code.T + (1.0 - code) @ (1.0 - code).T

    handles = [m.register_forward_pre_hook(count) for m in activations(model)]
    try:
        with torch.no_grad():
            model(batch.x)
    finally:
        for handle in handles:
            handle.remove()
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    return float(logdet) if float(sign) > 0 else -math.inf


def zen(model: nn.Module, batch: ProxyBatch) -> float:
    _gaussian_init(model)
    variances: list[torch.Tensor] = []

    def batch_variance(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach()
        axes = [0, *range(2, x.ndim)]
        variances.append(x.double().var(dim=axes, unbiased=False).mean())

    x = torch.randn_like(batch.x)
    noise = torch.randn_like(batch.x)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        handles = [m.register_forward_pre_hook(batch_variance) for m in batch_norms]
        try:
            clean = flat_output(model(x)).double()
        finally:
            for handle in handles:
                handle.remove()
        noisy = flat_output(model(x + _ZEN_ALPHA * noise)).double()
    expressivity = (clean - noisy).abs().sum(1).mean()
    scaling = sum((0.5 * torch.log(v)).item() for v in variances)
    return float(torch.log(expressivity)) + scaling


def _gaussian_init(model: nn.Module) -> None:
    """Zen-NAS's initialisation: weights N(0, 1), biases 0, norm scales 1 and shifts 0."""
    with torch.no_grad():
        for w in weights(model):
            w.normal_()
        norm_params = {id(p) for m in norms(model) for p in m.parameters(recurse=False)}
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                continue
            if id(p) in norm_params:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()


PROXIES.register("jacob_cov", ProxySpec(
    "jacob_cov", jacob_cov, "correlation of input Jacobians across a batch (Mellor et al. "
    "2020 v1; Abdelfattah et al. 2021)"))
PROXIES.register("naswot", ProxySpec(
    "naswot", naswot, "log-determinant of the activation-pattern kernel (Mellor et al. 2021)",
    applies=needs_activations))
PROXIES.register("zen", ProxySpec(
    "zen", zen, "Zen-score: log expected output change under input noise plus batch-norm "
    "scaling (Lin et al. 2021)"))
