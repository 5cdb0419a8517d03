"""Cost measurements of a built model: parameters, forward time (latency), peak memory.

MACs are not measured here: `NetworkPlan.macs` counts them from the plan without torch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; shared tensors counted once; no buffers)."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True, slots=True)
class Timing:
    """Milliseconds of one forward pass: `best_ms`, the fastest repeat (what the model costs
    when nothing else competes for the device), and `p90_ms`, the 90th percentile (how much
    other work slowed the repeats: p90 close to best means a quiet machine)."""

    best_ms: float
    p90_ms: float


def time_forwards(
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: torch.device | str,
    batch_sizes: Sequence[int],
    warmup: int = 1,
    repeats: int = 3,
    clock: Callable[[], float] = time.perf_counter,
    min_seconds: float = 0.001,
    rtol: float = 0.02,
    max_repeats: int = 300,
) -> list[Timing]:
    """A `Timing` per batch size, from forward passes interleaved across the batch sizes (they
    take turns, so a burst of other work slows repeats of all of them, never all of one).

    The fastest repeat is the robust figure: load only ever adds time, so under load the
    median (stored before issue 17) can be 100x the model's cost while the minimum stays put.
    On the CPU the repeats go on until that minimum is stable: after `repeats` forwards of a
    batch size, each further block doubles its count, and a batch size stops once a block
    (as many forwards as all before it) lowered its fastest by no more than `rtol` and its
    own forwards add up to `min_seconds`, or after `max_repeats`. A quiet machine stops a
    large model after 2 x `repeats` forwards and a small one once its forwards add up to
    `min_seconds` (48 of a 30 us forward: cheap samples against a scheduler's hiccup); load
    that scatters the times keeps it measuring. (Issue 19: a fixed 30 to 300 repeats spanning
    >= 0.05 s cost 16 ms of a 135 ms quickstart trial; the figures against that protocol are
    in the issue 19 report.) The model runs in eval mode under `torch.inference_mode` (its
    training flag is restored). CPU forwards are timed with `clock` (seconds;
    `time.perf_counter`), CUDA forwards (10 x `repeats` each, 30 by default) with CUDA events
    and one synchronisation. Inputs come from a local generator: global RNG state is
    untouched.
    """
    device = torch.device(device)
    if (not batch_sizes or min(batch_sizes) < 1 or repeats < 1 or warmup < 0
            or max_repeats < repeats or rtol < 0):
        raise ValueError(
            f"time_forwards needs batch sizes >= 1, repeats >= 1, warmup >= 0, max_repeats >= "
            f"repeats and rtol >= 0, got {list(batch_sizes)}, {repeats}, {warmup}, "
            f"{max_repeats}, {rtol}."
        )
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn((b, *input_shape), generator=generator).to(device)
              for b in batch_sizes]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                for x in inputs:
                    model(x)
            if device.type == "cuda":
                times = _cuda_times(model, inputs, 10 * repeats)
            else:
                times = _cpu_times(model, inputs, _Stopping(repeats, max_repeats, rtol,
                                                            min_seconds), clock)
    finally:
        model.train(was_training)
    return [Timing(min(ms), _p90(ms)) for ms in times]


@dataclass(frozen=True, slots=True)
class _Stopping:
    """When CPU repeats of one batch size stop (`time_forwards`)."""

    repeats: int
    max_repeats: int
    rtol: float
    min_seconds: float

    def settled(self, times: list[float], best_before: float, spent: float) -> bool:
        if len(times) >= self.max_repeats:
            return True
        return (min(times) >= best_before * (1 - self.rtol)
                and spent >= self.min_seconds)


def _p90(times: list[float]) -> float:
    if len(times) == 1:
        return times[0]
    return statistics.quantiles(times, n=10, method="inclusive")[-1]


def _cpu_times(model: nn.Module, inputs: list[torch.Tensor], stopping: _Stopping,
               clock: Callable[[], float]) -> list[list[float]]:
    times: list[list[float]] = [[] for _ in inputs]
    spent = [0.0 for _ in inputs]  # seconds of each batch size's own forwards
    best_before = [float("inf") for _ in inputs]
    active = list(range(len(inputs)))  # all active batch sizes have as many repeats
    block = stopping.repeats
    while active:
        for _ in range(block):
            for i in active:
                start = clock()
                model(inputs[i])
                seconds = clock() - start
                times[i].append(seconds * 1e3)
                spent[i] += seconds
        settled = {i for i in active if stopping.settled(times[i], best_before[i], spent[i])}
        for i in active:
            best_before[i] = min(times[i])
        active = [i for i in active if i not in settled]
        if active:
            done = len(times[active[0]])
            block = min(done, stopping.max_repeats - done)
    return times


def _cuda_times(model: nn.Module, inputs: list[torch.Tensor],
                repeats: int) -> list[list[float]]:
    pairs: list[list[tuple[torch.cuda.Event, torch.cuda.Event]]] = [[] for _ in inputs]
    for _ in range(repeats):
        for x, out in zip(inputs, pairs, strict=True):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            out.append((start, end))
    torch.cuda.synchronize(inputs[0].device)
    return [[start.elapsed_time(end) for start, end in out] for out in pairs]


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new peak-memory window on a CUDA device (no-op elsewhere)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device | str) -> float | None:
    """Peak allocated CUDA memory (MiB) since the last `reset_peak_memory`; None off CUDA."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
