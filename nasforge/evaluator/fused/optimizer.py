"""The optimizer of a stacked model: AdamW / Adam / SGD (Nesterov, momentum 0.9) over the
stack's (M, P) parameters, each model (row) with its own learning rate and weight decay.

Lifecycle: `StackedOptimizer(kind, flat)` (zero moments, step counts 0) -> `step(flat, grad,
lrs, decays)` once per training step (`lrs`, `decays`: one float per model, host values) ->
`keep(index)` when models leave the stack.

Where torch has the fused kernel that `train_candidate`'s optimizer calls
(`kernel_optimizer.KernelOptimizer`, torch.optim's ``fused=True`` update: CPU and CUDA),
each model's row is updated by that same kernel with that model's learning rate and decay:
one pass over the row, the update bit-identical to the candidate's own optimizer given the
same gradient. (An (M, P) formulation with (M, 1) rate columns takes eight passes, and on
CPU `sqrt` of the zero moments that padding leaves is several times slower than of other
values.) Elsewhere the (M, P) formulation with torch's single-tensor update formulas runs
instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from nasforge.evaluator.kernel_optimizer import (
    BETAS,
    EPS,
    FUSED_DEVICES,
    KINDS,
    MOMENTUM,
    fused_kernel,
)

__all__ = ["BETAS", "EPS", "FUSED_DEVICES", "MOMENTUM", "StackedOptimizer"]


class StackedOptimizer:
    """See the module docstring. `fused`: use torch's fused kernel per model (default: where
    the kernel exists for the device); False: the (M, P) formulation."""

    def __init__(self, kind: str, flat: torch.Tensor, *, fused: bool | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"optimizer {kind!r} is not stackable; choose one of {KINDS}")
        self.kind = kind
        self.count = 0
        self.first = torch.zeros_like(flat)  # exp_avg, or the momentum buffer for SGD
        self.second = torch.zeros_like(flat) if kind != "sgd" else None
        kernel = fused_kernel(kind) if flat.device.type in FUSED_DEVICES else None
        self.kernel = kernel if fused is not False else None
        if fused and kernel is None:
            raise ValueError(f"torch has no fused {kind} kernel for {flat.device.type}")
        # each model's step count, as torch.optim keeps it for its fused kernels
        self.steps = [torch.zeros((), dtype=torch.float32, device=flat.device)
                      for _ in range(flat.shape[0])]

    def keep(self, index: torch.Tensor) -> None:
        """Keep the rows at `index` (a 1-D int64 tensor on the parameters' device)."""
        self.first = self.first.index_select(0, index)
        if self.second is not None:
            self.second = self.second.index_select(0, index)
        self.steps = [self.steps[k] for k in index.tolist()]

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, lrs: Sequence[float],
             decays: Sequence[float]) -> None:
        """Update `p` (M, P) in place from `grad` (M, P); one rate and decay per model."""
        if len(lrs) != p.shape[0] or len(decays) != p.shape[0]:
            raise ValueError(f"{p.shape[0]} stacked models need as many learning rates and "
                             f"decays, got {len(lrs)} and {len(decays)}")
        if self.kernel is not None:
            self._fused(p, grad, lrs, decays)
        else:
            self._columns(p, grad, torch.tensor(lrs, device=p.device).view(-1, 1),
                          torch.tensor(decays, device=p.device).view(-1, 1))
        self.count += 1

    def _fused(self, p: torch.Tensor, grad: torch.Tensor, lrs: Sequence[float],
               decays: Sequence[float]) -> None:
        """torch.optim's fused update (`_fused_adam` / `_fused_sgd`), row by row."""
        assert self.kernel is not None
        rows = zip(p.unbind(0), grad.unbind(0), self.first.unbind(0), lrs, decays,
                   strict=True)  # one unbind each: cheaper than M selects
        if self.kind == "sgd":
            for weights, grads, momentum, lr, decay in rows:
                self.kernel([weights], [grads], [momentum], weight_decay=decay,
                            momentum=MOMENTUM, lr=lr, dampening=0.0, nesterov=True,
                            maximize=False, is_first_step=self.count == 0)
            return
        assert self.second is not None
        torch._foreach_add_(self.steps, 1)
        for (weights, grads, first, lr, decay), second, step in zip(
                rows, self.second.unbind(0), self.steps, strict=True):
            self.kernel([weights], [grads], [first], [second], [], [step], amsgrad=False,
                        lr=lr, beta1=BETAS[0], beta2=BETAS[1], weight_decay=decay, eps=EPS,
                        maximize=False)

    def _columns(self, p: torch.Tensor, grad: torch.Tensor, lr: torch.Tensor,
                 decay: torch.Tensor) -> None:
        """The (M, P) formulation, with (M, 1) lr and decay columns."""
        if self.kind == "sgd":
            grad = grad.addcmul(p, decay)
            if self.count == 0:
                self.first.copy_(grad)
            else:
                self.first.mul_(MOMENTUM).add_(grad)
            p.sub_(lr * grad.add_(self.first, alpha=MOMENTUM))
            return
        if self.kind == "adamw":
            p.mul_(1 - lr * decay)
        else:
            grad = grad.addcmul(p, decay)
        beta1, beta2 = BETAS
        assert self.second is not None
        self.first.lerp_(grad, 1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        count = self.count + 1
        correction1 = 1 - beta1**count
        correction2_sqrt = math.sqrt(1 - beta2**count)
        # torch's p -= lr / c1 * m / (sqrt(v) / c2 + eps), as p -= (lr c2 / c1) m / (sqrt(v) +
        # eps c2): two passes over (M, P) fewer, the same value up to rounding
        denom = self.second.sqrt().add_(EPS * correction2_sqrt)
        p.addcmul_(self.first.div(denom), lr, value=-correction2_sqrt / correction1)
