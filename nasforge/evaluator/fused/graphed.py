"""One training step, run eagerly or replayed from a captured CUDA graph.

`train_step` is the step itself: forward + loss (under the precision's autocast), zero_grad,
backward, optimizer step; it returns the detached loss and never reads back to the host.

`GraphedSteps` runs full batches through one CUDA graph of `train_step`, following the recipe
of the PyTorch CUDA-graphs notes: the first `WARMUP` full-batch steps run eagerly on a side
stream (lazy initialisation: cuBLAS handles, optimizer state, autograd streams), then one step
is captured with static inputs: the batch indices are copied into a static index tensor and
the gather `x[idx]` happens inside the graph; the learning rate is a one-element device tensor
(`make_graph_optimizer`) that the schedule fills before each step. Batches of another size
(the last partial batch of an epoch) run eagerly with the same optimizer. If capture raises,
a warning is logged and every later step runs eagerly. Lifecycle per full batch:
warm-up (eager, side stream) x WARMUP -> capture -> replay, replay, ...

`capture=False` runs exactly the same static-buffer step without a graph: that is how the logic
is tested on CPU, where CUDA graphs do not exist.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import torch
from torch import nn

from nasforge.evaluator.kernel_optimizer import Optimizer

logger = logging.getLogger(__name__)

WARMUP = 3
# Capture costs about WARMUP + 2 eager steps of host time (warm-up, recording, instantiation);
# a replay saves most of an eager step's launch overhead (tens of launches for a small model,
# the whole step for the tiny models a search trains). 64 full-batch steps pay that back
# several times over; below it the saving is within run-to-run noise.
GRAPH_MIN_STEPS = 64

Amp = Callable[[], contextlib.AbstractContextManager]


def train_step(model: nn.Module, optimizer: Optimizer, loss_fn: Callable,
               x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, amp: Amp) -> torch.Tensor:
    """One optimizer step on the batch `x[idx]`, `y[idx]`; returns the loss, detached.
    Autocast covers forward and loss only; backward and the update run outside it."""
    with amp():
        loss = loss_fn(model(x[idx]), y[idx])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def use_graphs(mode: bool | str, device: torch.device, full_steps: int) -> bool:
    """Whether to capture: True or False as given; "auto": on CUDA when the run has at least
    GRAPH_MIN_STEPS full-batch steps. (Batch norm in training mode captures fine: its running
    statistics are updated in place on the device.)"""
    if mode is True or mode is False:
        return mode
    if mode != "auto":
        from nasforge.errors import ConfigError

        raise ConfigError(f"graphs={mode!r} is invalid; choose 'auto', True or False.")
    return device.type == "cuda" and full_steps >= GRAPH_MIN_STEPS


def make_graph_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float,
                         device: torch.device) -> torch.optim.Optimizer:
    """torch.optim's fused optimizer (the update `make_optimizer`'s `KernelOptimizer` calls)
    with the lr as a device tensor (the graph reads it; the schedule writes it) and, for
    Adam/AdamW, `capturable=True` (their step counters stay on the device; torch refuses
    capture otherwise). Fused kernels on CUDA and CPU take a tensor lr; fused SGD needs no
    capturable flag. (torch.optim here: its first optimizer imports `torch._dynamo`, a cost
    only the CUDA-graph path pays.)"""
    weights = list(model.parameters())
    rate = torch.tensor(lr, dtype=torch.float32, device=device)
    fused = device.type in ("cpu", "cuda")
    if name == "sgd":
        return torch.optim.SGD(weights, lr=rate, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay, fused=fused)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(weights, lr=rate, weight_decay=weight_decay, fused=fused, capturable=True)


class GraphedSteps:
    """Training steps of one candidate; full batches (`batch` rows) replay a captured graph.

    `step(idx)` returns the step's loss as a device tensor (a fresh one: the graph's static
    loss is copied out). The optimizer must come from `make_graph_optimizer`.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                 x: torch.Tensor, y: torch.Tensor, batch: int, amp: Amp, *,
                 capture: bool = True) -> None:
        self._run = lambda idx: train_step(model, optimizer, loss_fn, x, y, idx, amp)
        self.optimizer, self.batch, self.capture = optimizer, batch, capture
        self.static_idx = torch.zeros(batch, dtype=torch.long, device=x.device)
        self.warmed = 0
        self.failed = False
        self._replay: Callable[[], torch.Tensor] | None = None
        self._stream = torch.cuda.Stream(x.device) if capture else None

    @property
    def captured(self) -> bool:
        return self._replay is not None and self.capture

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"].fill_(lr)  # in place: the graph holds this tensor's address

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        if len(idx) != self.batch or self.failed:
            return self._run(idx)
        if self._replay is None and self.warmed < WARMUP:
            self.warmed += 1
            return self._warm_step(idx)
        if self._replay is None:
            self._replay = self._capture()
            if self._replay is None:
                return self._run(idx)
        self.static_idx.copy_(idx)
        return self._replay().clone()

    def _warm_step(self, idx: torch.Tensor) -> torch.Tensor:
        if self._stream is None:
            return self._run(idx)
        current = torch.cuda.current_stream(idx.device)
        self._stream.wait_stream(current)
        with torch.cuda.stream(self._stream):
            loss = self._run(idx)
        current.wait_stream(self._stream)
        loss.record_stream(current)  # allocated on the side stream, read on this one
        return loss

    def _capture(self) -> Callable[[], torch.Tensor] | None:
        if not self.capture:
            return lambda: self._run(self.static_idx)
        self.optimizer.zero_grad(set_to_none=True)  # gradients get static graph-pool storage
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                static_loss = self._run(self.static_idx)
        except Exception:
            logger.warning("CUDA graph capture of the training step failed; training this "
                           "candidate eagerly", exc_info=True)
            self.failed = True
            self.optimizer.zero_grad(set_to_none=True)
            return None

        def replay() -> torch.Tensor:
            graph.replay()
            return static_loss

        return replay
