"""How many torch intra-op threads a candidate trains (and is timed) with, on the CPU.

``[training] threads``: a whole number is used as given; "auto" (the default) gives a
candidate one thread when a training step is small (per-sample MACs x batch_size below
`AUTO_MIN_MACS_PER_STEP`) and otherwise the threads this process was given: torch's default
(the cores) inline, ``cores // workers`` in a `WorkerPool` worker
(`executors.pool.threads_per_worker`), a Ray actor's CPUs. Why: a small step cannot use a
second thread (torch splits ops above 32768 elements), yet pays for it: each op waits for the
slowest thread, and when other work holds the second core a descheduled thread stalls every
op for a whole time slice (issue 19: tiny-model trials 17-33x slower at two threads than at
one; `bench/threads.py` measures the crossover).

The count is a pure function of the candidate (plan MACs, batch size), the setting and the
threads the process was given (the machine's cores and the workers sharing them), never of
the machine's current load: a different thread count may change float rounding, and a
candidate's results must not depend on what else ran at the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

AUTO = "auto"

#: Per-step MACs (per-sample MACs x batch_size) from which "auto" gives a candidate more than
#: one thread. `bench/threads.py` on the 2-core machine shared with other work (issue 19):
#: a second thread never gained, at any size measured, 0.2M to 186M MACs a step (MLPs on
#: digits and on 784 features, CNNs on 28x28): 1.1x-15x slower with the other core busy only
#: with other programs' work, 0.99x-33x with a busy loop on it as well. So only steps far
#: above those (about 0.15 s at one thread) keep the process's threads, where a quiet
#: many-core machine gains; rerun the bench on such a machine to lower it.
AUTO_MIN_MACS_PER_STEP = 1_000_000_000


def candidate_threads(macs_per_sample: int, batch_size: int, setting: int | str,
                      available: int) -> int:
    """The threads one candidate trains with: `setting` when it is a number; for "auto",
    1 below `AUTO_MIN_MACS_PER_STEP` per step, else `available` (the process's threads)."""
    if setting != AUTO:
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise ValueError(f'threads = {setting!r}; use "auto" or a whole number >= 1.')
        return setting
    if macs_per_sample * batch_size < AUTO_MIN_MACS_PER_STEP:
        return 1
    return max(1, available)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """`torch.set_num_threads(threads)` inside the block, the previous count restored after."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def candidate_torch_threads(macs_per_sample: int, batch_size: int, setting: int | str,
                            device: torch.device) -> Iterator[int]:
    """`torch_threads(candidate_threads(...))` with the process's current threads as
    available, on the CPU; on other devices the threads are left alone (the block gets the
    process's count)."""
    available = torch.get_num_threads()
    if device.type != "cpu":
        yield available
        return
    threads = candidate_threads(macs_per_sample, batch_size, setting, available)
    with torch_threads(threads):
        yield threads
