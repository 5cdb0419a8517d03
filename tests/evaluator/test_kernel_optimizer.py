"""`KernelOptimizer` is torch.optim's fused update called directly: bit-identical parameters
after every step (with the learning rate changed between steps, and, for Adam, a parameter
that gets no gradient at first; for SGD such a parameter as torch.optim's for-loop SGD takes
it), and training a candidate with it does not import torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nasforge.evaluator.kernel_optimizer import MOMENTUM, KernelOptimizer


def _torch_optim(kind: str, params: list[torch.Tensor], lr: float, decay: float
                 ) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, nesterov=True,
                               weight_decay=decay, fused=True)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay, fused=True)
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay, fused=True)


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).requires_grad_(True)
            for shape in ((8, 5), (8,), (3, 8), (4, 4))]


@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
def test_every_step_equals_torch_optims_fused_update(kind: str) -> None:
    ours, theirs = _params(0), _params(0)
    mine = KernelOptimizer(kind, ours, lr=0.01, weight_decay=0.05)
    reference = _torch_optim(kind, theirs, 0.01, 0.05)
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for params in (ours, theirs):
            for k, (p, grad) in enumerate(zip(params, grads, strict=True)):
                # Adam: the last parameter gets no gradient in the first two steps
                # (torch.optim's fused SGD fails on a parameter that joins late)
                late = kind != "sgd" and k == 3 and step < 2
                p.grad = None if late else grad.clone()
        mine.step()
        reference.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), (kind, step)
        mine.zero_grad(set_to_none=True)
        assert all(p.grad is None for p in ours)
        lr = 0.01 * (0.5 ** (step + 1))  # a schedule sets the lr between steps
        mine.param_groups[0]["lr"] = lr
        for group in reference.param_groups:
            group["lr"] = lr


def test_sgd_takes_a_parameter_whose_gradient_comes_late_as_torch_optims_loop_does() -> None:
    """torch.optim's fused SGD fails on a parameter without momentum while others have it;
    KernelOptimizer gives it a first step of its own: what torch.optim's for-loop SGD does."""
    ours, theirs = _params(0), _params(0)
    mine = KernelOptimizer("sgd", ours, lr=0.01, weight_decay=0.05)
    reference = torch.optim.SGD(theirs, lr=0.01, momentum=MOMENTUM, nesterov=True,
                                weight_decay=0.05, foreach=False)
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for params in (ours, theirs):
            for k, (p, grad) in enumerate(zip(params, grads, strict=True)):
                p.grad = None if k == 3 and step < 2 else grad.clone()
        mine.step()
        reference.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), step


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        KernelOptimizer("lamb", _params(0), lr=0.1, weight_decay=0.0)


def test_training_a_candidate_does_not_import_torch_dynamo() -> None:
    script = """
import sys
import torch
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.train import TrainingParams, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, PlanBuilder
g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
spec = DataSpec((6,), 3, "classification", "blobs")
data = DeviceData(x, y, x[:16], y[:16], x[:16], y[:16], spec)
for kind in ("adamw", "adam", "sgd"):
    plan = PlanBuilder("mlp", (6,)).linear(8).norm_activation("batch", "relu").linear(3).build()
    train_candidate(build_from_plan(plan), data, TrainingParams(epochs=2, optimizer=kind),
                    seed=0, task="classification")
assert "torch._dynamo" not in sys.modules, "training imported torch._dynamo"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
