"""When to fuse: a per-machine cost model cuts candidates into stacks and decides each; a short
timing probe decides where the model predicts a small gain (none where it predicts none).

Lifecycle: `FusedPolicy.stacks(plans, data, params, task)` (one fusion key's candidates) ->
the cost model (`costmodel`, fitted once per machine and cached on disk: `calibration`) plans
stacks (`costmodel.plan_stacks`) and predicts each one's fused and alone step -> fused iff the
prediction says fused is at least `margin` times faster, unless it says so by less than a
factor `unsure`: then the bucket key (slots, padded sizes, batch size, optimizer, M) -> cached
decision, or `probe` (a few training steps of the stacked model vs the same steps of each
candidate alone, on the real data) -> cached for the policy's lifetime. A stack the model
predicts not to pay (fused x `margin` at or above alone) trains one by one unprobed: where
the model predicted that in three quickstart searches, the probe decided sequential for all
18 stacks (docs/benchmarks.md). The model's errors that matter are on the fast side (large
stacks of mixed depths and norms priced up to 0.2-0.6 too low).

The probe costs at most a few percent of the bucket's estimated sequential training time
(`budget`, or a fixed 50 ms if more: decisions are cached, so a probe pays over every later
bucket of its key); a bucket too short to pay for one trains sequentially. It trains its own
throw-away copies (built under a fixed seed inside `seeded`, which
restores torch's RNG state) on fixed, unshuffled batches: it never touches the candidates'
models, their seeds or any generator, so results are bit-identical whether it ran or not.
A probe that raises (e.g. out of memory) decides "sequential".
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nasforge.evaluator.fused.align import (
    align,
    align_key,
    ordered_alignment,
    slot_kind,
)
from nasforge.evaluator.fused.buckets import split_by_padding
from nasforge.evaluator.fused.costmodel import CostModel, plan_stacks
from nasforge.evaluator.fused.steppers import alone_stepper, stack_stepper
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import (
    TrainData,
    TrainingParams,
    batch_starts,
    checked_targets,
)
from nasforge.searchspace.plan import NetworkPlan

__all__ = ["FusedPolicy", "ProbeTiming", "bucket_key", "default_model", "probe_steps"]

logger = logging.getLogger(__name__)

PROBE_SEED = 0
#: Per-step MACs of one candidate above which a device is compute-bound: fusing cannot win
#: there (stacked matmuls are no faster than one after another), so such buckets are not
#: probed. Measured on a 2-core CPU: 8 x 64-512-512-10 at batch 64 (~6e7) still probes.
MAX_STEP_MACS: dict[str, float] = {"cpu": 3e8}


@dataclass(frozen=True, slots=True)
class ProbeTiming:
    """Seconds per training step: `fused` for all M stacked models, `sequential` for the M
    candidates one after another (each timed alone, summed)."""

    fused: float
    sequential: float


Probe = Callable[[Sequence[NetworkPlan], TrainData, Sequence[TrainingParams], str], ProbeTiming]
Timer = Callable[[], float]


def bucket_key(plans: Sequence[NetworkPlan], params: Sequence[TrainingParams]) -> Hashable:
    """What the timing of a bucket depends on: its slots (kinds and padded sizes), batch,
    optimizer and M (rounded up to a power of two, so buckets of 9 to 16 share one probe)."""
    p = params[0]
    size = 1 << (len(plans) - 1).bit_length()  # M rounded up to a power of two
    alignment = align(plans)
    kinds = tuple(slot_kind(slot.reference) for slot in alignment.slots)
    return (align_key(plans[0]), kinds, alignment.padded_shapes, p.batch_size, p.optimizer,
            size)


def probe_steps(plans: Sequence[NetworkPlan], data: TrainData, params: Sequence[TrainingParams],
                task: str, *, steps: int = 2, rounds: int = 3, budget: float = 0.02,
                min_seconds: float = 0.05,
                min_steps: int = 20, max_step_macs: float | None = None,
                timer: Timer = time.perf_counter) -> ProbeTiming:
    """Time `steps` training steps of the stacked bucket vs each of its candidates alone.

    Candidates with fewer than `min_steps` training steps each, or (compute-bound) more than
    `max_step_macs` multiply-accumulates per training step (forward and backward, about 3 x
    plan MACs x batch of the median candidate; default `MAX_STEP_MACS` for the device type,
    None: no limit) are not probed (fused = inf: fusing cannot pay, or not enough to pay for
    a probe). Otherwise an untimed warm-up step of each candidate alone, then one timed step
    of each estimates the bucket's sequential training time (their sum x the steps of
    training); the probe spends at most `budget` of that estimate, or `min_seconds` if more
    (a few tens of milliseconds: what probing a stack of tiny models costs; the decision is
    cached). If a fused warm-up step (estimated at the sequential step) would not fit, fused
    = inf; if the first timed round would not fit after it, the fused warm-up time (an
    overestimate) stands for fused. Otherwise up to `rounds` interleaved timings while they
    fit (the budget follows the fastest sequential step so far); fused is its fastest round,
    sequential the sum of each candidate's fastest, per step.
    Why each candidate: the candidates of a stack differ in depth, norms and dropout, and one
    of them (the median by MACs) times M misjudged a stack of 4 width-16 and 4 width-32
    candidates by 30% (1664 us a step for 2354 in training), enough to train it one by one.
    The stack and the models alone are built from the bucket's plans under `PROBE_SEED`: no
    candidate's model or generator is touched and torch's global RNG state is unchanged.
    """
    p0 = params[0]
    classification = task == "classification"
    x, device = data.x_train, data.x_train.device
    total_steps = len(batch_starts(len(x), p0.batch_size)) * p0.epochs
    limit = MAX_STEP_MACS.get(device.type) if max_step_macs is None else max_step_macs
    typical = sorted(plans, key=lambda plan: plan.macs)[len(plans) // 2]  # the median
    step_macs = 3 * typical.macs * min(p0.batch_size, len(x))
    if total_steps < min_steps or (limit is not None and step_macs > limit):
        return ProbeTiming(math.inf, 0.0)
    y = checked_targets(data.y_train, classification, "train")
    idx = torch.arange(min(p0.batch_size, len(x)), device=device)
    loss_fn = F.cross_entropy if classification else F.mse_loss
    with seeded(PROBE_SEED, device):  # the alone models' dropout draws from it too
        return _timed_probe(plans, params, x, y, idx, loss_fn, total_steps, steps=steps,
                            rounds=rounds, budget=budget, min_seconds=min_seconds,
                            timer=timer, classification=classification)


def _timed_probe(plans: Sequence[NetworkPlan], params: Sequence[TrainingParams],
                 x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
                 loss_fn: Callable[..., torch.Tensor], total_steps: int, *, steps: int,
                 rounds: int, budget: float, min_seconds: float, timer: Timer,
                 classification: bool) -> ProbeTiming:
    """`probe_steps`' timings (its docstring), inside the caller's `seeded` block."""
    device = x.device
    alones = [alone_stepper(plan, p, x, y, idx, loss_fn) for plan, p in zip(
        plans, params, strict=True)]

    def timed(fn: Callable[[int], None], count: int) -> float:
        _sync(device)
        start = timer()
        fn(count)
        _sync(device)
        return timer() - start

    def each_alone(count: int) -> list[float]:
        return [timed(step, count) / count for step in alones]

    spent = sum(each_alone(1))  # warm-up
    ones = each_alone(1)
    spent += sum(ones)

    def allowed() -> float:  # from the fastest alone steps so far (warm-up steps run slow)
        return max(budget * sum(ones) * total_steps, min_seconds)

    if spent + sum(ones) > allowed():
        return ProbeTiming(math.inf, sum(ones))
    fused_steps = stack_stepper(plans, params, x, y, idx, classification)
    warm = timed(fused_steps, 1)
    spent += warm
    fused_times: list[float] = []
    while len(fused_times) < rounds and spent + (warm + sum(ones)) * steps <= allowed():
        fused_times.append(timed(fused_steps, steps) / steps)
        alone_times = each_alone(steps)
        spent += (fused_times[-1] + sum(alone_times)) * steps
        warm = min(warm, fused_times[-1])
        ones = [min(a, b) for a, b in zip(ones, alone_times, strict=True)]
    if not fused_times:
        return ProbeTiming(warm, sum(ones))
    return ProbeTiming(min(fused_times), sum(ones))


ModelSource = Callable[[torch.device], CostModel]


def default_model(device: torch.device) -> CostModel:
    """This machine's cost model from the per-machine cache (`calibration.cache_dir` of the
    process environment), calibrated on first use."""
    from nasforge.evaluator.fused.calibration import cache_dir, cached_model

    return cached_model(device, cache_dir(os.environ))


class FusedPolicy:
    """Which candidates train stacked: `stacks` cuts a group of stackable candidates into
    stacks by the cost model and decides each; near the decision boundary (the model's
    fused / alone ratio, times `margin`, below 1 but above 1 / `unsure`) a timing `probe`
    decides instead, cached per `bucket_key` in this instance; at 1 and above the stack
    trains sequentially unprobed (the module docstring).

    `model`: a `CostModel`, a function of the device that returns one (default:
    `default_model`, cached on disk per machine; asked once), or None: no model, every
    stack (split by padding) is probed. `probe`: measures a stack (default `probe_steps`;
    inject a fake for deterministic tests). `margin`: fuse only when fused is at least this
    many times faster (choosing sequential is never slower).
    """

    def __init__(self, probe: Probe = probe_steps, *,
                 model: CostModel | ModelSource | None = default_model, margin: float = 1.1,
                 unsure: float = 1.25) -> None:
        self.probe = probe
        self.model = model
        self.margin = margin
        self.unsure = unsure
        self.decisions: dict[Hashable, bool] = {}
        self.timings: dict[Hashable, ProbeTiming] = {}
        self._resolved: dict[tuple[str, int], CostModel | None] = {}

    def cost_model(self, device: torch.device) -> CostModel | None:
        """The model for `device` at the current torch threads (a model source is asked once
        per device type and thread count: the per-machine cache keeps one per count); None
        without one, or when loading it failed (logged: stacks are then probed)."""
        if self.model is None or isinstance(self.model, CostModel):
            return self.model
        key = (device.type, torch.get_num_threads())
        if key not in self._resolved:
            try:
                self._resolved[key] = self.model(device)
            except Exception:
                logger.warning("The fused cost model could not be loaded or calibrated; "
                               "probing stacks instead", exc_info=True)
                self._resolved[key] = None
        return self._resolved[key]

    def stacks(self, plans: Sequence[NetworkPlan], data: TrainData,
               params: Sequence[TrainingParams], task: str) -> list[tuple[list[int], bool]]:
        """Stacks of the candidates `plans` (one fusion key: `buckets.fusion_key`), as
        indices into them, each with its decision (True: train fused)."""
        indices = list(range(len(plans)))
        model = self.cost_model(data.x_train.device)
        if model is None:
            return [(bucket, self._probed([plans[i] for i in bucket], data,
                                          [params[i] for i in bucket], task))
                    for bucket in split_by_padding(indices, lambda i: plans[i])]
        batch = min(params[0].batch_size, len(data.x_train))
        out = []
        for stack in plan_stacks(plans, batch, model):
            members = list(stack.members)
            fuse = len(members) >= 2 and self._decided(
                stack.fused, stack.alone, [plans[i] for i in members], data,
                [params[i] for i in members], task)
            logger.debug("stack of %d: predicted fused %.2e s vs alone %.2e s per step -> %s",
                         len(members), stack.fused, stack.alone,
                         "fused" if fuse else "sequential")
            out.append((members, fuse))
        return out

    def use_fused(self, plans: Sequence[NetworkPlan], data: TrainData,
                  params: Sequence[TrainingParams], task: str) -> bool:
        """True to train these candidates as one stack (the model's decision for the whole
        stack, or the probe's when it is unsure or there is no model)."""
        if len(plans) < 2:
            return False
        model = self.cost_model(data.x_train.device)
        if model is not None:
            batch = min(params[0].batch_size, len(data.x_train))
            alone = sum(model.alone_step(plan, batch) for plan in plans)
            return self._decided(model.fused_step(ordered_alignment(plans), batch), alone,
                                 plans, data, params, task)
        return self._probed(plans, data, params, task)

    def _ratio(self, fused: float, alone: float) -> float:
        """Predicted fused time x `margin` over alone: below 1, fusing pays."""
        return fused * self.margin / max(alone, 1e-12)

    def may_fuse(self, fused: float, alone: float) -> bool:
        """False where a stack predicted at `fused` seconds a step (against `alone` for its
        members one after another) trains sequentially; True where it fuses or would ask the
        probe."""
        return self._ratio(fused, alone) < 1

    def _decided(self, fused: float, alone: float, plans: Sequence[NetworkPlan],
                 data: TrainData, params: Sequence[TrainingParams], task: str) -> bool:
        """The model's decision where it predicts no gain (`_ratio` at 1 or above) or a
        sure one (at 1 / `unsure` or below), else the probe's."""
        ratio = self._ratio(fused, alone)
        if ratio >= 1 or ratio <= 1 / self.unsure:
            return ratio < 1
        return self._probed(plans, data, params, task)

    def _probed(self, plans: Sequence[NetworkPlan], data: TrainData,
                params: Sequence[TrainingParams], task: str) -> bool:
        """The probe's decision for one stack, cached per `bucket_key`."""
        if len(plans) < 2:
            return False
        key = bucket_key(plans, params)
        if key not in self.decisions:
            try:
                timing = self.probe(plans, data, params, task)
            except Exception:
                logger.warning("Fused-training probe failed; training the bucket sequentially",
                               exc_info=True)
                self.decisions[key] = False
                return False
            self.timings[key] = timing
            self.decisions[key] = timing.fused * self.margin < timing.sequential
            logger.debug("bucket of %d: fused %.4fs vs sequential %.4fs per step -> %s",
                         len(plans), timing.fused, timing.sequential,
                         "fused" if self.decisions[key] else "sequential")
        return self.decisions[key]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
