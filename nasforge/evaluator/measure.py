"""Cost measurements of a built model: parameters, latency, peak memory.

MACs are not measured here: `NetworkPlan.macs` counts them from the plan without torch.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; shared tensors counted once; no buffers)."""
    return sum(p.numel() for p in model.parameters())


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: torch.device | str,
    batch_size: int = 1,
    warmup: int = 10,
    repeats: int = 30,
) -> float:
    """Median milliseconds of one forward pass on a (batch_size, *input_shape) input.

    The model runs in eval mode under `torch.inference_mode` (its training flag is restored).
    CPU forwards are timed with `time.perf_counter`, CUDA forwards with CUDA events and a
    synchronisation. The input comes from a local generator: global RNG state is untouched.
    """
    device = torch.device(device)
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError(
            f"measure_latency needs batch_size >= 1, repeats >= 1 and warmup >= 0, got "
            f"{batch_size}, {repeats}, {warmup}."
        )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *input_shape), generator=generator).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                model(x)
            times = _cuda_times(model, x, repeats) if device.type == "cuda" else [
                _cpu_time(model, x) for _ in range(repeats)
            ]
    finally:
        model.train(was_training)
    return statistics.median(times)


def _cpu_time(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return (time.perf_counter() - start) * 1e3


def _cuda_times(model: nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    pairs = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        model(x)
        end.record()
        pairs.append((start, end))
    torch.cuda.synchronize(x.device)
    return [start.elapsed_time(end) for start, end in pairs]


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
