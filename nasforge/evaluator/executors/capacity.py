"""How many local worker processes this machine can hold: `--workers` is refused above it.

Each worker is a Python process with torch loaded, its own copy of the dataset and one or
more intra-op threads. The limit is the smaller of the cores this process may use (its
affinity mask and a container's CPU quota) and the memory available now
(`data.memory.available_memory`: MemAvailable and a container's limit) over
`WORKER_FOOTPRINT_MB`; never below 1. Torch-free and cheap: it reads the affinity,
/proc/meminfo and a few cgroup files.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from nasforge.evaluator.data.memory import MEMINFO, available_memory
from nasforge.evaluator.executors.cgroup import THIS_PROCESS, Cgroups

#: Resident memory of one worker process, MiB. Measured: 316 MiB (VmHWM of each of the two
#: workers of `nasforge search --workers 2` on digits MLPs, torch 2 CPU); rounded up for
#: larger data and models.
WORKER_FOOTPRINT_MB = 400


def cpu_count() -> int:
    """CPU cores this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Capacity:
    """What bounds the local workers: `cores` this process may use, `available_mb` of
    memory (None: unknown, then cores alone bound them), `footprint_mb` per worker."""

    cores: int
    available_mb: float | None
    footprint_mb: float = WORKER_FOOTPRINT_MB

    @property
    def by_memory(self) -> int | None:
        if self.available_mb is None:
            return None
        return int(self.available_mb // self.footprint_mb)

    @property
    def limit(self) -> int:
        """The most local workers this machine holds (at least 1)."""
        memory = self.by_memory
        return max(1, min(self.cores, self.cores if memory is None else memory))

    def describe(self) -> str:
        """Why the limit is what it is, e.g. "2 cores this process may use; 6000 MiB of
        memory available, ~400 MiB a worker"."""
        text = f"{self.cores} cores this process may use"
        if self.available_mb is None:
            return text + "; available memory unknown"
        return (f"{text}; {self.available_mb:.0f} MiB of memory available, "
                f"~{self.footprint_mb:.0f} MiB a worker")


def machine_capacity(cgroups: Cgroups = THIS_PROCESS, meminfo: Path = MEMINFO) -> Capacity:
    """This machine's (or container's) capacity now."""
    available = available_memory(cgroups, meminfo)
    return Capacity(usable_cores(cgroups), None if available is None else available / 2**20)


def usable_cores(cgroups: Cgroups = THIS_PROCESS) -> int:
    """Cores in this process's affinity mask, lowered by a container's CPU quota (rounded up:
    1.5 CPUs hold two workers, each with part of a core)."""
    cores, quota = cpu_count(), cgroups.cpu_limit()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))
