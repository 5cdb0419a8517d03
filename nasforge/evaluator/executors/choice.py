"""Which executor and how many workers: the `--workers`, `--executor` and `--ray-address`
choices, checked before anything is loaded (ConfigError, exit code 2). Not building the
executor: that is `nasforge.evaluator_setup.make_executor`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasforge.errors import ConfigError

if TYPE_CHECKING:
    from nasforge.evaluator.executors.capacity import Capacity

EXECUTORS = ("local", "ray")


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
