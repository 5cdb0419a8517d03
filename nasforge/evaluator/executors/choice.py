"""Which executor and how many workers: the `--workers`, `--executor` and `--ray-address`
choices, checked before anything is loaded (ConfigError, exit code 2). Not building the
executor: that is `nasforge.evaluator_setup.make_executor`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasforge.errors import ConfigError

if TYPE_CHECKING:
    from nasforge.evaluator.executors.capacity import Capacity

EXECUTORS = ("local", "ray")

#: `--workers auto` (the default): see `auto_workers`.
AUTO_WORKERS = "auto"


def check_executor(executor: object, ray_address: object = None) -> None:
    """Refuse an unknown executor name, or a Ray address without the Ray executor."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: use one of {', '.join(EXECUTORS)} (local: "
                          "this machine's processes; ray: Ray tasks, on a local instance or "
                          "the cluster at --ray-address).")
    if ray_address is not None and executor != "ray":
        raise ConfigError(f"--ray-address {ray_address!r} needs --executor ray.")


def check_workers(workers: object) -> None:
    """Refuse a worker count that is not a whole number >= 1 (before anything is loaded)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers {workers!r}: use a whole number >= 1 (1 evaluates "
                          "in this process, N > 1 in N worker processes).")


def parse_workers(text: object) -> int | str:
    """`--workers` as given on the command line: "auto" or a whole number >= 1."""
    if text == AUTO_WORKERS:
        return AUTO_WORKERS
    try:
        workers = int(str(text))
    except ValueError:
        workers = 0
    if workers < 1 or isinstance(text, bool):
        raise ConfigError(f"--workers {text!r}: use auto (the default) or a whole number >= 1 "
                          "(1 evaluates in this process, N > 1 in N worker processes).")
    return workers


def auto_workers(batch: int, threads: int | str, on_cpu: bool, executor: str = "local",
                 user_evaluator: bool = False, capacity: Capacity | None = None) -> int:
    """What `--workers auto` means for a search: 1 (this process) unless its rounds hold
    several candidates (`[search] batch` > 1) that train on this machine's CPU with nasforge's
    own evaluator; then one worker process per `threads` cores (a number; "auto": one core,
    what a candidate below `threads.AUTO_MIN_MACS_PER_STEP` gets), at most `batch` and what
    `capacity` holds. Why: one process trains one candidate (or one fused stack) at a time,
    so a small candidate at one thread leaves the other cores idle; a round's candidates are
    independent and train in parallel in worker processes (issue 19). Ray sizes itself (1),
    and a user's evaluator function decides its own threads (1). A candidate with more than
    `AUTO_MIN_MACS_PER_STEP` a step then trains at cores / workers threads instead of all
    cores, and timing metrics are taken while other workers train (`latency_ms` is the fastest
    of interleaved repeats, made for that, issue 17)."""
    if executor != "local" or user_evaluator or batch <= 1 or not on_cpu:
        return 1
    from nasforge.evaluator.executors import capacity as machine  # reads /proc: only now

    capacity = capacity or machine.machine_capacity()
    per_worker = threads if isinstance(threads, int) and not isinstance(threads, bool) else 1
    return max(1, min(capacity.cores // max(1, per_worker), capacity.limit, batch))


def check_worker_limit(workers: int, executor: str = "local",
                       capacity: Capacity | None = None) -> None:
    """Refuse more local worker processes than `capacity` (default: this machine's now,
    `capacity.machine_capacity`) holds. Ray actors and a single (inline) worker are not
    bounded here: a Ray cluster sizes itself."""
    if executor != "local" or workers <= 1:
        return
    from nasforge.evaluator.executors import capacity as machine  # reads /proc: only now

    capacity = capacity or machine.machine_capacity()
    if workers > capacity.limit:
        raise ConfigError(
            f"--workers {workers}: this machine holds at most {capacity.limit} local worker "
            f"processes ({capacity.describe()}); more would oversubscribe the cores or run "
            f"out of memory. Use --workers {capacity.limit} or fewer, or --executor ray to "
            "spread workers over a cluster.")
