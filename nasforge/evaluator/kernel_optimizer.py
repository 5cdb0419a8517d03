"""A candidate's optimizer as torch.optim's fused update, called directly.

`KernelOptimizer(kind, params, lr=..., weight_decay=...)` is what ``torch.optim.AdamW`` /
``Adam`` / ``SGD`` (Nesterov, momentum 0.9) with ``fused=True`` is on a device that has the
fused kernels (CPU, CUDA): the same state (a float32 step count per parameter, zero moments;
SGD's momentum buffers from the first step) and the same kernel call, so the parameters
after every step are bit-identical to torch.optim's. (One case torch.optim's fused SGD
refuses, a parameter whose first gradient comes after the others': it gets a first step of
its own, as torch.optim's for-loop SGD gives it.) `param_groups` is one group whose
"lr" the caller may set between steps (as a cosine schedule does); `zero_grad` drops the
gradients (torch.optim's ``set_to_none=True``).

Why not torch.optim itself: building its first optimizer imports ``torch._dynamo`` (its
methods are wrapped to keep torch.compile out), 1.4-1.7 s of start-up in every process that
trains (issue 19), and its Python bookkeeping around the kernel cost about 30 us of a
250 us step of a small MLP on a 2-core CPU (`docs/benchmarks.md`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import torch

__all__ = ["BETAS", "EPS", "FUSED_DEVICES", "KINDS", "MOMENTUM", "KernelOptimizer",
           "Optimizer", "fused_kernel"]

BETAS, EPS, MOMENTUM = (0.9, 0.999), 1e-8, 0.9
KINDS = ("adamw", "adam", "sgd")
#: devices with torch's fused optimizer kernels
FUSED_DEVICES = ("cpu", "cuda")
#: what trains a candidate: this module's optimizer, or torch.optim's (CUDA graphs, devices
#: without fused kernels)
Optimizer: TypeAlias = "KernelOptimizer | torch.optim.Optimizer"


def fused_kernel(kind: str) -> Any:
    """torch's fused update for `kind` ("adamw", "adam", "sgd"), or None where this torch
    has none."""
    name = {"adamw": "_fused_adamw_", "adam": "_fused_adam_", "sgd": "_fused_sgd_"}[kind]
    return getattr(torch, name, None)


class KernelOptimizer:
    """See the module docstring. Raises ValueError for an unknown `kind` or a torch without
    its fused kernel."""

    def __init__(self, kind: str, params: Iterable[torch.Tensor], *, lr: float,
                 weight_decay: float) -> None:
        if kind not in KINDS:
            raise ValueError(f"optimizer {kind!r} is unknown; choose one of {KINDS}")
        self.kind = kind
        self.kernel = fused_kernel(kind)
        if self.kernel is None:
            raise ValueError(f"this torch ({torch.__version__}) has no fused {kind} kernel")
        self.params = list(params)
        self.param_groups: list[dict[str, Any]] = [{"lr": lr, "weight_decay": weight_decay}]
        # per parameter: [step count, exp_avg, exp_avg_sq] (Adam) or [momentum] (SGD)
        self.state: dict[int, list[torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (torch.optim skips the others:
        no state, no weight decay)."""
        group = self.param_groups[0]
        lr, decay = float(group["lr"]), float(group["weight_decay"])
        for params in _by_device_and_dtype([p for p in self.params if p.grad is not None]):
            grads = [p.grad for p in params]
            if self.kind == "sgd":
                self._sgd(params, grads, lr, decay)
            else:
                self._adam(params, grads, lr, decay)

    def _adam(self, params: list[torch.Tensor], grads: list[Any], lr: float,
              decay: float) -> None:
        for p in params:
            if id(p) not in self.state:
                self.state[id(p)] = [
                    torch.zeros((), dtype=torch.float32, device=p.device),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros_like(p, memory_format=torch.preserve_format)]
        steps, firsts, seconds = zip(*(self.state[id(p)] for p in params), strict=True)
        torch._foreach_add_(list(steps), 1)
        self.kernel(params, grads, list(firsts), list(seconds), [], list(steps),
                    amsgrad=False, lr=lr, beta1=BETAS[0], beta2=BETAS[1],
                    weight_decay=decay, eps=EPS, maximize=False)

    def _sgd(self, params: list[torch.Tensor], grads: list[Any], lr: float,
             decay: float) -> None:
        fresh = set()
        for p, grad in zip(params, grads, strict=True):
            if id(p) not in self.state:  # torch.optim: empty, filled by the first step
                self.state[id(p)] = [torch.empty_like(grad)]
                fresh.add(id(p))
        for first in (True, False):
            chosen = [(p, g) for p, g in zip(params, grads, strict=True)
                      if (id(p) in fresh) == first]
            if chosen:
                self.kernel([p for p, _ in chosen], [g for _, g in chosen],
                            [self.state[id(p)][0] for p, _ in chosen], weight_decay=decay,
                            momentum=MOMENTUM, lr=lr, dampening=0.0, nesterov=True,
                            maximize=False, is_first_step=first)


def _by_device_and_dtype(params: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """The kernels take one device and dtype a call (torch.optim groups the same way)."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for p in params:
        groups.setdefault((p.device, p.dtype), []).append(p)
    return list(groups.values())
