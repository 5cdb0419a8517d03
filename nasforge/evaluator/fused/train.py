"""Horizontally fused training: M candidates of one structure trained as one stacked model.

Lifecycle of one call: check the plans stack (equal `stack.stack_key`: the structure
without widths or activation kinds; same batch size, epochs, optimizer and schedule) -> build
each model under `seeded(seed)` (exactly the initial weights `LocalEvaluator` would train) ->
stack them in `align.stack_order`, padded to the widest (`stack.StackedModel`) ->
epochs of [per-model shuffles, steps, one host read of every model's train and validation
metrics, per-model divergence check] -> test metrics -> one `FusedResult` per candidate.

Each model sees exactly the batches `train_candidate` would give it with its own seed (a
permutation per epoch from `torch.Generator().manual_seed(seed)`, the same batch starts, a lone
last sample joined to the batch before it). The optimizer (`optimizer.StackedOptimizer`)
updates each model's row of the stacked (M, P) parameters with its own learning rate and
weight decay (torch's fused kernels where they exist: AdamW, Adam, SGD with Nesterov momentum
0.9); the per-step cosine schedule of `train_candidate` per model. A model whose epoch loss is
not finite is reported `Diverged` (as `train_candidate` would raise) and dropped from the
stack; the others go on unchanged.
A model whose early-stopping hook (`stops`) returns metrics after an epoch leaves the stack
the same way, with the outcome `train_candidate` gives it when stopped.
With augmentations (`DeviceData.augment`), each model's rows of a batch are augmented with
its own `augment.Augmenter` (seeded from its seed, as `train_candidate` does).

Agreement with `train_candidate` is to float rounding (the update is torch's fused kernel, as
the reference's; matmuls are batched): tests assert rtol 1e-4, atol 1e-5.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.curves.rule import EpochHook
from nasforge.errors import DataError
from nasforge.evaluator.augment import Augment, augment_stacked, augmenters_for
from nasforge.evaluator.fused.align import align_key, stack_order
from nasforge.evaluator.fused.graphed import Amp
from nasforge.evaluator.fused.optimizer import StackedOptimizer
from nasforge.evaluator.fused.stack import FusionError, StackedModel, check_fusable
from nasforge.evaluator.layout import eval_batch
from nasforge.evaluator.precision import autocast, resolve_precision, tf32
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import (
    TASKS,
    Diverged,
    TrainData,
    TrainingParams,
    TrainOutcome,
    batch_starts,
    check_choice,
    checked_targets,
    lr_table,
)
from nasforge.records import CurvePoint
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan

__all__ = ["FusedResult", "FusionError", "StackedOptimizer", "check_compatible", "fused_step",
           "train_fused"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True, eq=False)
class FusedResult:
    """One candidate's result: its model (trained weights, eval mode, on the data's device)
    and either `outcome` (what `train_candidate` returns) or `error` (the `Diverged` that
    `train_candidate` would raise)."""

    model: nn.Sequential
    outcome: TrainOutcome | None
    error: Diverged | None


def check_compatible(plans: Sequence[NetworkPlan], params: Sequence[TrainingParams]) -> None:
    """Raise `FusionError` unless all candidates can be trained as one stacked model."""
    if not plans or len(plans) != len(params):
        raise FusionError(f"Fused training needs one TrainingParams per plan and at least one "
                          f"plan, got {len(plans)} plans and {len(params)} params.")
    first, p0 = plans[0], params[0]
    structure = align_key(first)
    for i, (plan, p) in enumerate(zip(plans, params, strict=True)):
        check_fusable(plan, f"candidate {i}")
        why = ""
        if align_key(plan) != structure:
            why = ("its layer structure differs (only depth, widths, norm kinds, activation "
                   "kinds and dropout rates of flat layers may differ; grouped convolutions "
                   "and quantized layers need equal widths too)")
        else:
            for key in ("batch_size", "epochs", "optimizer", "schedule"):
                if getattr(p, key) != getattr(p0, key):
                    why = f"its {key} differs ({getattr(p, key)!r} vs {getattr(p0, key)!r})"
                    break
        if why:
            raise FusionError(
                f"Candidate {i} cannot be fused with candidate 0: {why}. Fuse only candidates "
                "with equal structure and equal batch_size, epochs, optimizer and schedule; "
                "depth, widths, norms, activations, dropout, lr, weight_decay and seed may "
                "differ."
            )


def train_fused(
    plans: Sequence[NetworkPlan],
    data: TrainData,
    params: Sequence[TrainingParams],
    *,
    seeds: Sequence[int],
    task: str,
    precision: str = "fp32",
    stops: Sequence[EpochHook | None] | None = None,
) -> list[FusedResult]:
    """Build and train candidate i (plan, params, seed) for every i as one stacked model.

    `stops[i]`: candidate i's early-stopping hook, as `train_candidate`'s `stop`.

    `precision` as for `train_candidate` ("bf16": forward and loss under bf16 autocast, the
    stacked parameters, gradients, optimizer state and metric sums in float32).

    Results are in order. `TrainOutcome.seconds` is the fused wall time divided by the number
    of candidates (each one's share). Raises `FusionError` for plans that cannot be fused,
    `DataError` for empty or malformed splits; torch's global RNG state is unchanged.
    """
    check_choice("task", task, TASKS)
    check_compatible(plans, params)
    if len(seeds) != len(plans):
        raise FusionError(f"Fused training needs one seed per plan, got {len(seeds)} seeds "
                          f"for {len(plans)} plans.")
    if stops is not None and len(stops) != len(plans):
        raise FusionError(f"Fused training needs one stop hook (or None) per plan, got "
                          f"{len(stops)} for {len(plans)} plans.")
    classification = task == "classification"
    x, y = data.x_train, checked_targets(data.y_train, classification, "train")
    x_val, y_val = data.x_val, checked_targets(data.y_val, classification, "validation")
    if len(x) == 0 or len(x_val) == 0:
        raise DataError("Training needs non-empty train and validation splits.")
    device, p0, count = x.device, params[0], len(plans)
    mode = resolve_precision(precision, device)
    amp = functools.partial(autocast, device, mode)
    with tf32(device, mode):  # TF32 matmuls for "tf32" on CUDA only; restored after
        models = []
        for plan, seed in zip(plans, seeds, strict=True):
            with seeded(seed, device):
                models.append(build_from_plan(plan).to(device))
        begin = time.perf_counter()
        active = stack_order(plans)  # candidate index of each stack slot
        stack = StackedModel.from_models([models[c] for c in active],
                                         [plans[c] for c in active], [seeds[c] for c in active])
        starts = batch_starts(len(x), p0.batch_size)
        ends = [*starts[1:], len(x)]
        sizes = torch.tensor([e - s for s, e in zip(starts, ends, strict=True)],
                             dtype=torch.float32, device=device)
        total = len(starts) * p0.epochs
        lrs = [lr_table(params[c], total) or [params[c].lr] * (total + 1)
               for c in active]  # (M, steps + 1)
        decay = [params[c].weight_decay for c in active]
        optimizer = StackedOptimizer(p0.optimizer, stack.flat)
        orders = [torch.Generator().manual_seed(seed) for seed in seeds]
        augmenters = augmenters_for(data, seeds)
        curves: list[list[CurvePoint]] = [[] for _ in range(count)]
        errors: dict[int, Diverged] = {}
        stopped: dict[int, Mapping[str, float]] = {}
        hooks = list(stops) if stops is not None else [None] * count
        step = 0
        for epoch in range(1, p0.epochs + 1):
            perms = torch.stack([torch.randperm(len(x), generator=orders[c]) for c in active])
            perms = perms.to(device)
            augment = None if augmenters is None else functools.partial(
                augment_stacked, [augmenters[c] for c in active])
            losses = []
            for start, end in zip(starts, ends, strict=True):
                idx = perms[:, start:end].reshape(-1)  # (M * B,): model-major
                losses.append(fused_step(stack, optimizer, x, y, idx,
                                         [row[step] for row in lrs], decay, classification,
                                         amp, augment))
                step += 1
            with torch.inference_mode():
                train_sum = sizes @ torch.stack(losses)  # (M,)
                val = _sums(stack, x_val, y_val, classification, amp)
                values = torch.stack([train_sum, *val], dim=1).tolist()  # the epoch's host read
            dropped = []
            for slot, (cand, row) in enumerate(zip(active, values, strict=True)):
                point = {"train_loss": row[0] / len(x), "val_loss": row[1] / y_val.numel()}
                if classification:
                    point["val_accuracy"] = row[2] / len(y_val)
                curves[cand].append(CurvePoint(epoch, point))
                for split in ("train", "val"):
                    if not math.isfinite(point[f"{split}_loss"]):
                        errors[cand] = Diverged(epoch, point[f"{split}_loss"],
                                                "train" if split == "train" else "validation")
                        dropped.append(slot)
                        break
                hook = hooks[cand]
                if cand not in errors and hook is not None:
                    verdict = hook(curves[cand])
                    if verdict is not None:
                        stopped[cand] = verdict
                        dropped.append(slot)
            if dropped:
                for slot in dropped:
                    cand = active[slot]
                    logger.debug("fused candidate %d: %s", cand,
                                 errors.get(cand) or f"stopped after epoch {epoch}")
                    stack.write_back(slot, models[cand])
                keep = [s for s in range(len(active)) if s not in dropped]
                active = [active[s] for s in keep]
                if not active:
                    break
                index = torch.tensor(keep, device=device)
                stack.keep(index)
                optimizer.keep(index)
                lrs, decay = [lrs[s] for s in keep], [decay[s] for s in keep]
        tests: list[tuple[float | None, float | None]] = [(None, None)] * len(active)
        if active and len(data.x_test):
            y_test = checked_targets(data.y_test, classification, "test")
            with torch.inference_mode():
                sums = _sums(stack, data.x_test, y_test, classification, amp)
                rows = torch.stack(sums, 1).tolist()
            tests = [(r[0] / y_test.numel(), r[1] / len(y_test) if classification else None)
                     for r in rows]
        for slot, cand in enumerate(active):
            stack.write_back(slot, models[cand])
        seconds = (time.perf_counter() - begin) / count
        results = []
        for cand, model in enumerate(models):
            model.eval()
            if cand in errors:
                results.append(FusedResult(model, None, errors[cand]))
                continue
            last = curves[cand][-1].metrics
            test_loss, test_accuracy = (None, None) if cand in stopped else tests[
                active.index(cand)]
            results.append(FusedResult(model, TrainOutcome(
                curve=tuple(curves[cand]), train_loss=last["train_loss"],
                val_loss=last["val_loss"], val_accuracy=last.get("val_accuracy"),
                test_loss=test_loss, test_accuracy=test_accuracy, seconds=seconds,
                epochs=len(curves[cand]), stopped=stopped.get(cand)), None))
        return results


def fused_step(stack: StackedModel, optimizer: StackedOptimizer, x: torch.Tensor,
               y: torch.Tensor, idx: torch.Tensor, lr: Sequence[float],
               decay: Sequence[float], classification: bool,
               amp: Amp = contextlib.nullcontext, augment: Augment | None = None
               ) -> torch.Tensor:
    """One training step of every stacked model on its batch: `idx` (M * B,) model-major row
    indices into x / y; lr, decay: one per model; `augment` transforms the (M * B, ...)
    batch (`augment.augment_stacked`). Returns the (M,) batch losses (detached)."""
    shape = (stack.size, len(idx) // stack.size)
    xb = x.index_select(0, idx)
    if augment is not None:
        xb = augment(xb)
    xb = xb.view(*shape, *x.shape[1:])
    yb = y.index_select(0, idx).view(*shape, *y.shape[1:])
    with amp():
        per_model = _losses(stack.forward(xb, True).float(), yb, classification)
    grads = torch.autograd.grad(per_model.sum(), stack.leaves())
    grad = torch.cat([g.reshape(stack.size, -1) for g in grads], dim=1)
    if stack.mask is not None:
        grad.mul_(stack.mask)  # padded entries stay exactly zero
    optimizer.step(stack.flat, grad, lr, decay)
    stack.restore_fixed()
    stack.steps += 1
    return per_model.detach()


def _losses(out: torch.Tensor, y: torch.Tensor, classification: bool) -> torch.Tensor:
    """(M, B, K) outputs and (M, B) classes or (M, B, k) targets -> (M,) mean losses."""
    if classification:  # classes on dim 1: one cross entropy over every model's batch
        return F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(1)
    return (out - y).square().mean(dim=(1, 2))


def _sums(stack: StackedModel, x: torch.Tensor, y: torch.Tensor, classification: bool,
          amp: Amp) -> list[torch.Tensor]:
    """[summed loss (M,), number correct (M,) (classification)] over a split, in eval mode."""
    m = stack.size
    loss_sum = torch.zeros(m, device=x.device)
    correct = torch.zeros(m, device=x.device)
    step = eval_batch(x)
    for start in range(0, len(x), step):
        chunk = x[start : start + step]
        with amp():
            out = stack.forward(chunk.unsqueeze(0).expand(m, *chunk.shape), False).float()
        target = y[start : start + step]
        b = len(target)
        if classification:
            picked = out.gather(2, target.expand(m, b).unsqueeze(2)).squeeze(2)
            loss_sum += (torch.logsumexp(out, 2) - picked).sum(1)
            correct += (out.argmax(dim=2) == target).sum(1)
        else:
            loss_sum += (out - target).square().sum(dim=(1, 2))
    return [loss_sum, correct] if classification else [loss_sum]
