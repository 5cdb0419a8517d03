"""What the proxies look at in any network: its weights, activation layers and norms, found by
type from the activation and norm registries (so plugin layers count too), and the task loss.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

from nasforge.proxies.spec import ProxyBatch

_PROBE_CHANNELS = 8


def weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight tensors (parameters with two or more axes: linear and conv kernels, in any
    family or plugin layer); biases, norm affines and quantizer steps are left out, as the
    published proxies sum over conv and linear weights only."""
    return [p for p in model.parameters() if p.ndim >= 2]


def _layer_types(role: str) -> tuple[type, ...]:
    """The module classes the registered activations (role "activation", with the
    norm-activations such as EvoNorm) or norms (role "norm") build (cached per registry
    contents: a plugin registered later is seen)."""
    from nasforge.searchspace import layers as _layers  # noqa: F401  (registers the layers)
    from nasforge.searchspace import specs

    return _built_types(role, specs.ACTIVATIONS.names(), specs.NORMS.names())


@functools.cache
def _built_types(role: str, activation_names: tuple[str, ...],
                 norm_names: tuple[str, ...]) -> tuple[type, ...]:
    from nasforge.searchspace import specs

    found: set[type] = set()
    registries = [specs.ACTIVATIONS, specs.NORMS] if role == "activation" else [specs.NORMS]
    for registry in registries:
        for name in registry.names():
            spec = registry.get(name)
            if registry is specs.NORMS and (role == "activation") != spec.norm_activation:
                continue
            for dims in sorted(spec.dims):
                try:
                    found.add(type(spec(_PROBE_CHANNELS, dims)))
                except Exception:  # a layer that cannot be built bare is not counted
                    continue
    found.discard(nn.Identity)
    if role == "activation":
        found.update((nn.ReLU, nn.ReLU6))  # NAS-Bench-201 style cells build ReLU directly
    return tuple(found)


def activations(model: nn.Module) -> list[nn.Module]:
    """The model's activation layers (and norm-activation layers), in module order."""
    kinds = _layer_types("activation")
    return [m for m in model.modules() if isinstance(m, kinds)]


def norms(model: nn.Module) -> list[nn.Module]:
    """The model's normalization layers (batch, layer, group, ... and plugin norms)."""
    kinds = _layer_types("norm") + (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    return [m for m in model.modules() if isinstance(m, kinds)]


def needs_activations(model: nn.Module) -> str | None:
    """`ProxySpec.applies` for proxies that read activation layers."""
    if activations(model):
        return None
    return ("it reads the inputs of activation layers and this network has none (add an "
            "activation to the family or choose synflow, snip, grad_norm, jacob_cov or zen)")


def task_loss(output: torch.Tensor, batch: ProxyBatch) -> torch.Tensor:
    """Cross-entropy (classification) or mean squared error (regression), as in training."""
    if batch.task == "classification":
        return F.cross_entropy(output, batch.y)
    return F.mse_loss(output, batch.y.reshape(output.shape).to(output.dtype))


def flat_output(output: torch.Tensor) -> torch.Tensor:
    """(N, ...) network output as (N, K)."""
    return output.reshape(len(output), -1)
