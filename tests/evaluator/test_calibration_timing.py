"""The calibration times its probes in rounds over all of them (`calibration.interleaved`):
a burst of other work shorter than a round slows one round of a probe, never all its rounds,
so no probe's best time carries it, and every probe is warmed up before any is timed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from nasforge.evaluator.fused.calibration import interleaved

CPU = torch.device("cpu")


class Machine:
    """A fake clock: each step call advances it by the step's cost, times `slow` while a
    burst of other work runs (calls number `burst[0]` to `burst[1] - 1`, counted over all
    calls); `log` is the probe of each call."""

    def __init__(self, burst: tuple[int, int], slow: float = 10.0) -> None:
        self.now, self.burst, self.slow = 0.0, burst, slow
        self.log: list[int] = []

    def step(self, probe: int, cost: float) -> Callable[[], None]:
        def run() -> None:
            busy = self.burst[0] <= len(self.log) < self.burst[1]
            self.now += cost * (self.slow if busy else 1.0)
            self.log.append(probe)
        return run

    def timer(self) -> float:
        return self.now


@pytest.mark.parametrize("burst", [(18, 30), (13, 26)])
def test_a_burst_shorter_than_a_round_slows_no_probes_best_time(burst: tuple[int, int]
                                                                ) -> None:
    costs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # 6 warm-up calls, then rounds of 6 probes x 4 calls: each burst is about half a round,
    # as long as one probe's warm-up and 3 rounds timed back to back (calls 13 to 25: the
    # second probe's, had each probe been warmed up and timed in turn)
    machine = Machine(burst=burst)
    steps = [machine.step(k, cost) for k, cost in enumerate(costs)]
    assert interleaved(steps, CPU, machine.timer, count=4, rounds=3) == costs


def test_every_probe_is_warmed_up_before_any_is_timed() -> None:
    machine = Machine(burst=(0, 0))
    steps = [machine.step(k, 1.0) for k in range(4)]
    interleaved(steps, CPU, machine.timer, count=2, rounds=2)
    assert machine.log[:4] == [0, 1, 2, 3]
    assert machine.log[4:12] == [0, 0, 1, 1, 2, 2, 3, 3]  # then rounds over all in turn
