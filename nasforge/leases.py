"""Holding trials while they run, and taking back those whose worker died.

Every process that evaluates trials of a search (`nasforge search`, `nasforge resume`,
`nasforge worker`) is identified by `worker_id()` ("host:pid") and, while it runs, keeps a
`Heartbeat` thread refreshing the leases of the trials it holds. `StaleWatch` finds the
trials of other workers that stopped beating. Staleness is judged by this process's own
monotonic clock (a lease whose `heartbeat_at` has not changed for `timeout` seconds since
this process first saw it), never by comparing timestamps written by other machines, so
clock skew between machines cannot re-queue a live worker's trial. A worker on this host
whose process is gone is stale at once (`orphaned`): a killed run on a laptop resumes
without waiting out the timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from nasforge.errors import ConfigError

if TYPE_CHECKING:
    from nasforge.records import Lease
    from nasforge.store.base import Store

logger = logging.getLogger(__name__)

#: Default seconds without a heartbeat after which another worker's trial is re-queued.
DEFAULT_TIMEOUT = 60.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def check_timeout(timeout: object) -> float:
    """Refuse a heartbeat timeout that is not a finite number of seconds > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            0 < timeout < float("inf")):
        raise ConfigError(f"--heartbeat-timeout {timeout!r}: use a number of seconds > 0 "
                          f"(default {DEFAULT_TIMEOUT:g}); a worker silent that long is "
                          "presumed dead and its trials are re-queued.")
    return float(timeout)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def dead_here(worker: str | None, host: str | None = None,
              alive: Callable[[int], bool] = pid_alive) -> bool:
    """Whether `worker` ("host:pid") names a process of this host that no longer runs."""
    if not worker:
        return False
    name, _, pid = worker.rpartition(":")
    if name != (host or socket.gethostname()) or not pid.isdigit():
        return False
    return not alive(int(pid))


def orphaned(leases: Iterable[Lease], me: str, host: str | None = None,
             alive: Callable[[int], bool] = pid_alive) -> dict[int, Lease]:
    """Leases nobody can still hold: no worker, this very process (left by an earlier run of
    it, e.g. a search restarted in the same interpreter), or a dead process of this host."""
    return {lease.number: lease for lease in leases
            if lease.worker is None or lease.worker == me
            or dead_here(lease.worker, host, alive)}


class StaleWatch:
    """Remembers when each RUNNING trial's lease was first seen as it is now; `stale` gives
    those unchanged for `timeout` seconds (and at once those `orphaned`), never `me`'s."""

    def __init__(self, timeout: float, me: str, *, clock: Callable[[], float] = time.monotonic,
                 host: str | None = None, alive: Callable[[int], bool] = pid_alive) -> None:
        self.timeout = check_timeout(timeout)
        self.me = me
        self._clock, self._host, self._alive = clock, host, alive
        self._since: dict[int, tuple[Lease, float]] = {}

    def stale(self, leases: Iterable[Lease]) -> dict[int, Lease]:
        now = self._clock()
        leases = [lease for lease in leases if lease.worker != self.me]
        since: dict[int, tuple[Lease, float]] = {}
        for lease in leases:
            seen = self._since.get(lease.number)
            since[lease.number] = seen if seen is not None and seen[0] == lease else (lease, now)
        self._since = since
        out = {n: lease for n, (lease, first) in since.items() if now - first >= self.timeout}
        out.update({n: lease for n, lease in orphaned(leases, self.me, self._host,
                                                      self._alive).items()
                    if lease.worker is not None})
        return out


class Heartbeat:
    """While open, a daemon thread refreshes `worker`'s leases in `search` every `interval`
    seconds. A failed beat is logged and tried again at the next interval (the store retries
    dropped connections itself); a trial that was taken from us shows up as LeaseLostError
    when we finish it."""

    def __init__(self, store: Store, search: str, worker: str, interval: float) -> None:
        self.store, self.search, self.worker, self.interval = store, search, worker, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.worker}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.store.heartbeat(self.search, self.worker)
                self.beats += 1
            except Exception as err:  # noqa: BLE001 - a beat must never kill the search
                logger.warning("heartbeat of %s failed (%s); trying again in %.3g s",
                               self.worker, err, self.interval)
