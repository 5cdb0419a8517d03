"""Training the supernet: the sandwich rule with in-place distillation; BN recalibration.

Each step (BigNAS / OFA): the largest subnet learns from the labels, then the smallest and
`random_subnets` random subnets learn from the largest one's soft targets (KL divergence to
its detached softmax; mean squared error to its outputs for regression); the gradients of all
of them are summed into one optimizer step.

Batch-norm statistics are shared by every subnet that uses the same (slot, norm, width)
module, so they fit none of them exactly: before a subnet is evaluated, `recalibrate` resets
its running statistics and re-estimates them from a few training batches (no gradients).

Training batches of data with augmentations (`DeviceData.augment`) are augmented on the device
from a stream seeded with the training seed (`evaluator.augment`); recalibration batches and
evaluation are not.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError
from nasforge.evaluator.augment import augmenters_for
from nasforge.evaluator.layout import eval_batch, nhwc_inputs, use_channels_last
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainData
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.supernet.importance import sort_channels, unsortable
from nasforge.supernet.model import Supernet
from nasforge.supernet.progressive import (
    DEFAULT_FRACTIONS,
    PHASES,
    ProgressiveSchedule,
    check_fractions,
)
from nasforge.supernet.slots import extreme

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SupernetTraining:
    """How the supernet is trained: `epochs` over the training split in batches of
    `batch_size`, AdamW at `lr` (cosine to 0) with `weight_decay`, `random_subnets` random
    subnets per step besides the largest and the smallest; `progressive`: progressive
    shrinking in phases of `progressive_fractions` of the steps (`progressive.py`);
    `sort_channels`: re-sort expanded channels by importance (`importance.py`) whenever
    expansion is elastic, at the end of each epoch but the last (and, progressive, when the
    expansion phase opens)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    random_subnets: int = 2
    progressive: bool = False
    progressive_fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    sort_channels: bool = True

    def __post_init__(self) -> None:
        for name in ("progressive", "sort_channels"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"[search] strategy_options {name} = "
                                  f"{getattr(self, name)!r}: use true or false.")
        object.__setattr__(self, "progressive_fractions",
                           check_fractions(self.progressive_fractions))
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[search] strategy_options supernet_{name} = {value!r}: "
                                  "use a whole number >= 1.")
        if isinstance(self.random_subnets, bool) or not isinstance(self.random_subnets, int) \
                or self.random_subnets < 0:
            raise ConfigError(f"[search] strategy_options random_subnets = "
                              f"{self.random_subnets!r}: use a whole number >= 0.")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 \
                    or not math.isfinite(value) or (name == "lr" and value == 0):
                raise ConfigError(f"[search] strategy_options supernet_{name} = {value!r}: "
                                  "use a finite number > 0 (weight decay: >= 0).")


class SandwichSchedule:
    """The subnets of each step: largest, smallest, then `n_random` random ones (the
    extremes' non-size choices, like activation and norm, are drawn afresh each step)."""

    def __init__(self, space: SearchSpace, n_random: int, seed: int) -> None:
        self.space = space
        self.n_random = n_random
        self.rng = np.random.default_rng(seed)

    def step(self, index: int = 0) -> list[Architecture]:
        """The subnets of a step (the same rule at every `index`)."""
        return [extreme(self.space, self.rng, True), extreme(self.space, self.rng, False),
                *(self.space.sample(self.rng) for _ in range(self.n_random))]


def _batches(n: int, batch_size: int, generator: torch.Generator,
             device: torch.device) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator).to(device)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:  # a lone last sample joins the batch before
        starts.pop()
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        yield order[start:stop]


def train_supernet(net: Supernet, data: TrainData, options: SupernetTraining, *,
                   seed: int, task: str = "classification") -> dict[str, float]:
    """Train `net` in place with the sandwich rule; returns {"seconds", "steps",
    "train_loss"} (the largest subnet's mean loss in the last epoch)."""
    device = data.x_train.device
    generator = torch.Generator().manual_seed(seed)
    augmenters = augmenters_for(data, [seed])  # `DeviceData.augment`, as train_candidate
    nhwc = use_channels_last("auto", net, data.x_train)  # as train_candidate: 1.8x on a CPU
    if nhwc:
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs omit memory_format
    params = list(net.parameters())  # walking the module tree each step costs ~1 ms
    # foreach: one fused update over the tensors instead of a Python loop (CPU default)
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay,
                                  foreach=True)
    steps_per_epoch = max(1, math.ceil(len(data.y_train) / options.batch_size))
    total = steps_per_epoch * options.epochs
    schedule: SandwichSchedule | ProgressiveSchedule = (
        ProgressiveSchedule(net.space, options.random_subnets, seed, total,
                            options.progressive_fractions) if options.progressive
        else SandwichSchedule(net.space, options.random_subnets, seed))
    sorter = ChannelSorter(net, optimizer, schedule, options.sort_channels)
    def position(step: int) -> float:  # along the cosine: restarted in each progressive phase
        if isinstance(schedule, ProgressiveSchedule):
            return schedule.progress(step)
        return min(step, total) / total

    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * position(step))))
    start, steps, last = time.perf_counter(), 0, math.nan
    net.train()
    with seeded(seed, device):  # dropout draws from the global generator
        for epoch in range(options.epochs):
            losses = []
            for index in _batches(len(data.y_train), options.batch_size, generator, device):
                x, y = data.x_train[index], data.y_train[index]
                if augmenters is not None:
                    x = augmenters[0](x)
                if nhwc_inputs(nhwc, x):
                    x = x.contiguous(memory_format=torch.channels_last)
                sorter.on_step(steps)
                losses.append(sandwich_step(net, schedule.step(steps), x, y, task,
                                            params).detach())
                optimizer.step()
                scheduler.step()
                steps += 1
            if epoch + 1 < options.epochs:
                sorter.on_epoch_end(steps)
            last = float(torch.stack(losses).mean())
            logger.info("supernet epoch %d/%d: largest subnet loss %.4f", epoch + 1,
                        options.epochs, last)
            if not math.isfinite(last):
                raise ConfigError(f"Supernet training diverged at epoch {epoch + 1} (loss "
                                  f"{last}); lower supernet_lr in [search] strategy_options.")
    net.eval()
    return {"seconds": time.perf_counter() - start, "steps": float(steps), "train_loss": last,
            "channel_sorts": float(sorter.sorts)}


class ChannelSorter:
    """When `train_supernet` re-sorts the expanded channels (see `SupernetTraining`)."""

    def __init__(self, net: Supernet, optimizer: torch.optim.Optimizer,
                 schedule: SandwichSchedule | ProgressiveSchedule, enabled: bool) -> None:
        self.net, self.optimizer, self.schedule = net, optimizer, schedule
        self.sorts, self.enabled = 0, enabled
        why = unsortable(net.space) if enabled else None
        if why is not None:
            logger.info("expanded channels are not re-sorted by importance: %s", why)
            self.enabled = False
        self.last = -1

    def _elastic(self, step: int) -> bool:
        schedule = self.schedule
        return not isinstance(schedule, ProgressiveSchedule) or \
            schedule.phase(step) == PHASES[-1][0]

    def on_step(self, step: int) -> None:
        """Before step `step`: sort when the expansion phase opens."""
        if self.enabled and step > 0 and self._elastic(step) and not self._elastic(step - 1):
            self._sort(step)

    def on_epoch_end(self, step: int) -> None:
        """After an epoch (not the last) whose next step has elastic expansion."""
        if self.enabled and self._elastic(step):
            self._sort(step)

    def _sort(self, step: int) -> None:
        if step != self.last and sort_channels(self.net, self.optimizer):
            self.sorts += 1
        self.last = step


def sandwich_step(net: Supernet, archs: list[Architecture], x: torch.Tensor,
                  y: torch.Tensor, task: str,
                  params: list[nn.Parameter] | None = None) -> torch.Tensor:
    """Zero the gradients (of `params`: default all of `net`'s) and accumulate those of one
    sandwich step; returns the teacher's (the first architecture's) loss. The caller steps
    the optimizer."""
    for p in net.parameters() if params is None else params:
        p.grad = None
    teacher_out = net(x, archs[0])
    if task == "classification":
        loss = F.cross_entropy(teacher_out, y)
    else:
        loss = F.mse_loss(teacher_out.reshape(y.shape), y)
    loss.backward()
    target = teacher_out.detach()
    soft = F.softmax(target, dim=1) if task == "classification" else target
    for arch in archs[1:]:
        out = net(x, arch)
        if task == "classification":
            student = F.kl_div(F.log_softmax(out, dim=1), soft, reduction="batchmean")
        else:
            student = F.mse_loss(out, soft)
        student.backward()
    return loss


@torch.no_grad()
def recalibration_batch(x_train: torch.Tensor, *, batches: int = 4, batch_size: int = 256,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """`batches` x `batch_size` training samples drawn with replacement (one tensor)."""
    n = len(x_train)
    generator = generator or torch.Generator().manual_seed(0)
    index = torch.randint(n, (batches * min(batch_size, n),), generator=generator)
    return x_train[index.to(x_train.device)]


@torch.no_grad()
def recalibrate(net: Supernet, arch: Architecture, x_train: torch.Tensor, *, batches: int = 4,
                batch_size: int = 256, generator: torch.Generator | None = None) -> None:
    """`recalibrate_on` a `recalibration_batch` of `x_train`."""
    recalibrate_on(net, arch, recalibration_batch(x_train, batches=batches,
                                                  batch_size=batch_size, generator=generator))


@torch.no_grad()
def recalibrate_on(net: Supernet, arch: Architecture, x: torch.Tensor) -> None:
    """Re-estimate the running statistics of the norms `arch` uses from the samples `x`
    (no gradients), in forward passes of about `eval_batch(x)` samples: one for flat
    features; for images on a CPU, equal chunks of at most 256 whose batch statistics the
    norms average (batch norm's momentum None, others 1 / (i + 1)), as Once-for-All
    re-estimates them; input quantizers of `arch` that never observed a batch
    (a bit width the sandwich never trained at that slot: a 1-bit one would output NaN)
    observe it too. Other modules stay in eval mode; a subnet with neither is untouched."""
    subnet = net.subnet(arch)
    norms: list[Any] = [m for layer in subnet.modules for m in layer.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) or
                        (hasattr(m, "running_var") and hasattr(m, "momentum"))]
    fresh = [q for q in subnet.modules  # input quantizers that never observed a batch
             if isinstance(low := getattr(q, "running_min", None), torch.Tensor)
             and bool(torch.isinf(low))]
    if not norms and not fresh:
        return
    saved = [(m, m.training, getattr(m, "momentum", None)) for m in norms + fresh]
    if net.training:
        net.eval()
    for m in norms:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: one batch sets the statistics
        else:
            m.running_var.fill_(1.0)
        m.train()
    for q in fresh:
        q.train()
    try:
        # equal chunks (tensor_split): batch norm averages per call, and a one-sample chunk
        # would have no batch statistics; other running norms average through their momentum
        chunks = torch.tensor_split(x, max(1, math.ceil(len(x) / eval_batch(x))))
        for i, chunk in enumerate(chunks):
            for m in norms:
                if not isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = 1.0 / (i + 1)
            net(chunk, arch)
    finally:
        for m, training, momentum in saved:
            m.train(training)
            if m in norms:
                m.momentum = momentum
