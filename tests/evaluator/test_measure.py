"""Forward timing that load does not inflate: the minimum of interleaved repeats, repeated
until it is stable, its spread kept apart. A fake clock stands in for time: a model advances
it by 1 ms a forward, or by 100 ms on the calls that "other work" slowed; no assertion
depends on real time."""

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
    """Advances `clock` by `fast` seconds a forward, by `slow` on the calls `slowed` picks;
    `seen` records each forward's batch size."""

    def __init__(self, clock: FakeClock, slowed, fast: float = 1e-3, slow: float = 0.1) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.clock, self.slowed, self.fast, self.slow = clock, slowed, fast, slow
        self.calls = 0
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.seen.append(x.shape[0])
        self.clock.now += self.slow if self.slowed(self.calls) else self.fast
        return self.linear(x)


def test_latency_under_load_on_most_repeats_is_the_undisturbed_forward() -> None:
    clock = FakeClock()
    model = Slowed(clock, lambda call: call % 5 != 0)  # 4 of 5 forwards slowed 100x
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=2, repeats=30,
                                      clock=clock)
    assert timing.best_ms == pytest.approx(1.0)


def test_a_min_seconds_floor_outlasts_a_burst_of_load_shorter_than_it() -> None:
    """A burst that slows every forward of a short measurement looks stable; the floor keeps
    the repeats going until they span min_seconds, past the burst."""
    clock = FakeClock()
    model = Slowed(clock, lambda call: call <= 30, fast=1e-4, slow=1e-3)  # 30 ms of load
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=4,
                                      clock=clock, min_seconds=0.05)
    assert timing.best_ms == pytest.approx(0.1)


def test_a_quiet_machine_stops_after_twice_the_repeats() -> None:
    clock = FakeClock()
    model = Slowed(clock, lambda call: False)
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=4,
                                      clock=clock)
    assert model.calls == 8 and timing.best_ms == pytest.approx(1.0)


def test_repeats_double_until_a_block_no_longer_lowers_the_fastest() -> None:
    """Blocks of 4, 4, 8, 16 forwards: the second lowers the fastest (100 -> 10 ms), the
    third too (10 -> 1 ms), the fourth cannot, so 32 forwards in all."""
    clock = FakeClock()
    class Stepped(Slowed):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            self.clock.now += 0.1 if self.calls <= 4 else 0.01 if self.calls <= 8 else 1e-3
            return self.linear(x)

    model = Stepped(clock, lambda call: False)
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=4,
                                      clock=clock)
    assert timing.best_ms == pytest.approx(1.0) and model.calls == 32


def test_an_improvement_within_rtol_counts_as_stable() -> None:
    clock = FakeClock()
    model = Slowed(clock, lambda call: call <= 4, fast=0.99e-3, slow=1e-3)
    (timing,) = measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=4,
                                      clock=clock, rtol=0.02)
    assert model.calls == 8 and timing.best_ms == pytest.approx(0.99)


def test_scattered_load_stops_at_max_repeats() -> None:
    clock = FakeClock()
    times = iter(1e-3 * 0.9 ** k for k in range(1000))  # every forward faster than the last

    class Faster(Slowed):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            self.clock.now += next(times)
            return self.linear(x)

    model = Faster(clock, lambda call: False)
    measure.time_forwards(model, (4,), "cpu", [1], warmup=0, repeats=4, clock=clock,
                          max_repeats=50)
    assert model.calls == 50


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
    # the last 10 calls are slowed: measured one after the other, batch 8 would get only those
    model = Slowed(clock, lambda call: call > 10)
    small, large = measure.time_forwards(model, (4,), "cpu", [1, 8], warmup=0, repeats=10,
                                         clock=clock)
    assert model.seen == [1, 8] * 20
    assert small.best_ms == pytest.approx(1.0) and large.best_ms == pytest.approx(1.0)


def test_timing_restores_the_training_flag_and_refuses_bad_counts() -> None:
    model = nn.Linear(4, 2).train()
    (timing,) = measure.time_forwards(model, (4,), "cpu", [2], warmup=1, repeats=3)
    assert model.training and 0 < timing.best_ms <= timing.p90_ms
    with pytest.raises(ValueError, match="repeats >= 1"):
        measure.time_forwards(model, (4,), "cpu", [1], repeats=0)
    with pytest.raises(ValueError, match="max_repeats >= repeats"):
        measure.time_forwards(model, (4,), "cpu", [1], repeats=5, max_repeats=4)


def test_a_settled_batch_size_stops_while_the_other_goes_on() -> None:
    clock = FakeClock()
    # batch 8's forwards are slowed until its 6th: only batch 8 needs a third block
    model = Slowed(clock, lambda call: call < 12 and call % 2 == 0)
    small, large = measure.time_forwards(model, (4,), "cpu", [1, 8], warmup=0, repeats=4,
                                         clock=clock)
    assert model.seen == [1, 8] * 8 + [8] * 8
    assert small.best_ms == pytest.approx(1.0) and large.best_ms == pytest.approx(1.0)
