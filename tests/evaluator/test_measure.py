"""Forward timing that load does not inflate: the minimum of interleaved repeats, its spread
kept apart. A fake clock stands in for time: a model advances it by 1 ms a forward, or by
100 ms on the calls that "other work" slowed; no assertion depends on real time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.evaluator import measure


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Slowed(nn.Module):
    """Advances `clock` by `fast` seconds a forward, by `slow` on the calls `slowed` picks."""

    def __init__(self, clock: FakeClock, slowed, fast: float = 1e-3, slow: float = 0.1) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.clock, self.slowed, self.fast, self.slow = clock, slowed, fast, slow
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.clock.now += self.slow if self.slowed(self.calls) else self.fast
        return self.linear(x)


def test_latency_under_load_on_most_repeats_is_the_undisturbed_forward() -> None:
    clock = FakeClock()
    model = Slowed(clock, lambda call: call % 5 != 0)  # 4 of 5 forwards slowed 100x
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=2, repeats=30,
                                      clock=clock)
    assert timing.best_ms == pytest.approx(1.0)


def test_repeats_outlast_a_burst_of_load_shorter_than_their_window() -> None:
    """30 forwards of a small model fit in one time slice that other work may take whole:
    the repeats go on until they span min_seconds, past the burst."""
    clock = FakeClock()
    model = Slowed(clock, lambda call: call <= 30, fast=1e-4, slow=1e-3)  # 30 ms of load
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=30,
                                      clock=clock)
    assert timing.best_ms == pytest.approx(0.1)


def test_the_spread_shows_the_load() -> None:
    clock = FakeClock()
    model = Slowed(clock, lambda call: call % 2 == 0)  # every other forward slowed
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=20,
                                      clock=clock)
    assert timing.best_ms == pytest.approx(1.0)
    assert timing.p90_ms == pytest.approx(100.0)


def test_undisturbed_repeats_have_no_spread() -> None:
    clock = FakeClock()
    (timing,) = measure.time_forwards(Slowed(clock, lambda call: False), (4,), "cpu", [1],
                                      warmup=1, repeats=10, clock=clock)
    assert timing.best_ms == pytest.approx(1.0) and timing.p90_ms == pytest.approx(1.0)


def test_batch_sizes_are_interleaved_so_a_burst_of_load_hits_both() -> None:
    clock = FakeClock()
    seen: list[int] = []

    class Recording(Slowed):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return super().forward(x)

    # the last 10 calls are slowed: measured one after the other, batch 8 would get only those
    model = Recording(clock, lambda call: call > 10)
    small, large = measure.time_forwards(model, (4,), "cpu", [1, 8], warmup=0, repeats=10,
                                         clock=clock, min_seconds=0)
    assert seen == [1, 8] * 10
    assert small.best_ms == pytest.approx(1.0) and large.best_ms == pytest.approx(1.0)


def test_timing_restores_the_training_flag_and_refuses_bad_counts() -> None:
    model = nn.Linear(4, 2).train()
    (timing,) = measure.time_forwards(model, (4,), "cpu", [2], warmup=1, repeats=3)
    assert model.training and 0 < timing.best_ms <= timing.p90_ms
    with pytest.raises(ValueError, match="repeats >= 1"):
        measure.time_forwards(model, (4,), "cpu", [1], repeats=0)
