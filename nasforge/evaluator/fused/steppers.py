"""Training steps to time, on a fixed batch: a fresh model alone as `train_candidate` steps
it, and a fresh stack as `train_fused` steps it. The calibration (`calibration`) and the
policy's probe (`policy.probe_steps`) time the same steps, and so the same work, as the
training they predict.

`alone_stepper(plan, params, x, y, idx, loss_fn)` and `stack_stepper(plans, params, x, y,
idx, classification)` each build their model(s) at once (from the global generator: call
them inside `seeded`) and return `run(count)`, which takes `count` steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch

from nasforge.evaluator.fused.align import stack_order
from nasforge.evaluator.fused.graphed import train_step
from nasforge.evaluator.fused.optimizer import StackedOptimizer
from nasforge.evaluator.fused.stack import StackedModel
from nasforge.evaluator.fused.train import fused_step
from nasforge.evaluator.train import TrainingParams, make_optimizer
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan

__all__ = ["alone_stepper", "stack_stepper"]

Run = Callable[[int], None]


def alone_stepper(plan: NetworkPlan, params: TrainingParams, x: torch.Tensor,
                  y: torch.Tensor, idx: torch.Tensor, loss_fn: Callable[..., torch.Tensor]
                  ) -> Run:
    """Steps of a model of `plan` alone on the batch `idx`: `train_candidate`'s step (its
    optimizer; the lr set after each step, as a schedule does)."""
    model = build_from_plan(plan).to(x.device)
    model.train()
    optimizer = make_optimizer(model, params, x.device)

    def run(count: int) -> None:
        for _ in range(count):
            train_step(model, optimizer, loss_fn, x, y, idx, contextlib.nullcontext)
            optimizer.param_groups[0]["lr"] = params.lr

    return run


def stack_stepper(plans: Sequence[NetworkPlan], params: Sequence[TrainingParams],
                  x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, classification: bool
                  ) -> Run:
    """Steps of `plans` as one stack on the batch `idx` each: in `align.stack_order`, with
    `train_fused`'s step and optimizer (each model's lr and weight decay)."""
    order = stack_order(plans)
    stack = StackedModel.from_models([build_from_plan(plans[i]).to(x.device) for i in order],
                                     [plans[i] for i in order], list(range(len(plans))))
    optimizer = StackedOptimizer(params[0].optimizer, stack.flat)
    lr = [params[i].lr for i in order]
    decay = [params[i].weight_decay for i in order]
    stacked = idx.repeat(len(plans))

    def run(count: int) -> None:
        for _ in range(count):
            fused_step(stack, optimizer, x, y, stacked, lr, decay, classification)

    return run
