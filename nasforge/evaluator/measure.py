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
    warmup: int = 10,
    repeats: int = 30,
    clock: Callable[[], float] = time.perf_counter,
    min_seconds: float = 0.05,
) -> list[Timing]:
    """A `Timing` per batch size, from `repeats` forward passes each, interleaved (batch
    sizes take turns, so a burst of other work slows repeats of all of them, never all of one).

    The fastest repeat is the robust figure: load only ever adds time, so under load the
    median (stored before) can be 100x the model's cost while the minimum stays put. On the
    CPU the repeats go on (up to 10 x `repeats`) until they span `min_seconds`: 30 forwards
    of a small model fit in one scheduler time slice, which a busy machine may give to other
    work as a whole. (0.02 s instead of 0.05 saves at most 30 ms a trial, 6 ms on a digits
    MLP where the 10 x cap ends the repeats first, and let slightly more loaded measurements
    through: `bench/latency_load.py`, issue 17.) The model runs in eval mode under
    `torch.inference_mode` (its training flag is restored). CPU forwards are timed with
    `clock` (seconds; `time.perf_counter`), CUDA forwards with CUDA events and one
    synchronisation. Inputs come from a local generator: global RNG state is untouched.
    """
    device = torch.device(device)
    if not batch_sizes or min(batch_sizes) < 1 or repeats < 1 or warmup < 0:
        raise ValueError(
            f"time_forwards needs batch sizes >= 1, repeats >= 1 and warmup >= 0, got "
            f"{list(batch_sizes)}, {repeats}, {warmup}."
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
                times = _cuda_times(model, inputs, repeats)
            else:
                times = _cpu_times(model, inputs, repeats, clock, min_seconds)
    finally:
        model.train(was_training)
    return [Timing(min(ms), _p90(ms)) for ms in times]


def _p90(times: list[float]) -> float:
    if len(times) == 1:
        return times[0]
    return statistics.quantiles(times, n=10, method="inclusive")[-1]


def _cpu_times(model: nn.Module, inputs: list[torch.Tensor], repeats: int,
               clock: Callable[[], float], min_seconds: float) -> list[list[float]]:
    times: list[list[float]] = [[] for _ in inputs]
    began = clock()
    for done in range(10 * repeats):
        if done >= repeats and clock() - began >= min_seconds:
            break
        for x, out in zip(inputs, times, strict=True):
            start = clock()
            model(x)
            out.append((clock() - start) * 1e3)
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
