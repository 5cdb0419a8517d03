"""How `WorkerPool` splits a batch into chunks: one chunk per worker, candidates that could
train as one stacked model kept in the same chunk where the load balance allows.

`plan_chunks(archs, n_workers, group_key)` returns at most `n_workers` chunks, each a sorted
tuple of positions in `archs`, each at most `ceil(len(archs) / n_workers)` long (the balance:
every candidate is counted as one unit of work). Without `group_key`, an even contiguous
split (sizes differ by at most one). With it, candidates of equal key form a group; groups
are placed largest first, whole, into the fullest chunk that still has room for them (so
groups stay together and small ones fill the gaps), and only a group that fits nowhere
whole (larger than a chunk, or than any chunk's room) is split, across the chunks with the
most room. A key that raises (or is unhashable) gives its candidate a group of its own.

`costliest_first(chunks, archs, cost_key)` orders chunks by their summed estimated cost,
largest first, so that the workers pulling them finish close together (longest processing
time first); a CPU pool plans several chunks per worker for that (`WorkerPool`).

`dispatch_order(archs, ...)` is what a pool hands out: a `ChunkPlanner`'s chunks where one is
given (a CPU pool's is `fused.chunking.StackChunks`: the stacks fusion pays for, whole), else
`plan_chunks` ordered by `costliest_first`. A planner that raises, or whose chunks do not
hold every position exactly once, is logged and the plain plan is used instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Sequence

from nasforge.searchspace.architecture import Architecture

logger = logging.getLogger(__name__)

#: What candidates must share to train as one stacked model (e.g. `evaluator_setup.fusion_key`).
GroupKey = Callable[[Architecture], Hashable]
#: A candidate's relative training cost (e.g. `evaluator_setup.training_cost`).
CostKey = Callable[[Architecture], float]
#: (a round's architectures, workers) -> positions per chunk, in the order to hand them out.
ChunkPlanner = Callable[[Sequence[Architecture], int], list[tuple[int, ...]]]


def plan_chunks(archs: Sequence[Architecture], n_workers: int,
                group_key: GroupKey | None = None) -> list[tuple[int, ...]]:
    """Positions of `archs` per chunk (see the module docstring); [] for no candidates."""
    n = len(archs)
    if n == 0:
        return []
    count = min(n_workers, n)
    if group_key is None:
        base, extra = divmod(n, count)
        bounds = [i * base + min(i, extra) for i in range(count + 1)]
        return [tuple(range(bounds[i], bounds[i + 1])) for i in range(count)]
    cap = math.ceil(n / n_workers)
    chunks: list[list[int]] = [[] for _ in range(count)]
    for group in sorted(_groups(archs, group_key), key=lambda g: (-len(g), g[0])):
        fits = [c for c in chunks if cap - len(c) >= len(group)]
        if fits:
            max(fits, key=len).extend(group)  # the fullest that fits (first of equals)
            continue
        rest = list(group)
        while rest:  # total room >= n, so this ends
            roomiest = min(chunks, key=len)
            take = cap - len(roomiest)
            roomiest.extend(rest[:take])
            rest = rest[take:]
    return sorted((tuple(sorted(c)) for c in chunks if c), key=lambda c: c[0])


def _groups(archs: Sequence[Architecture], group_key: GroupKey) -> list[list[int]]:
    groups: dict[object, list[int]] = {}
    for index, arch in enumerate(archs):
        try:
            key: object = ("key", group_key(arch))
            groups.setdefault(key, [])
        except Exception as err:  # not groupable: its own group (the evaluator reports it)
            logger.debug("Candidate %s has no group key (%s: %s)", arch.arch_id,
                         type(err).__name__, err)
            key = ("alone", index)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def costliest_first(chunks: Sequence[tuple[int, ...]], archs: Sequence[Architecture],
                    cost_key: CostKey | None) -> list[tuple[int, ...]]:
    """`chunks` by summed `cost_key` of their candidates, largest first (ties, and no
    `cost_key`: as given). A cost that raises counts 0: that candidate is scheduled late."""
    if cost_key is None:
        return list(chunks)

    def cost(index: int) -> float:
        try:
            return float(cost_key(archs[index]))
        except Exception:  # an invalid candidate: the evaluator reports it, fast
            return 0.0

    return sorted(chunks, key=lambda chunk: -sum(cost(i) for i in chunk))


def dispatch_order(archs: Sequence[Architecture], workers: int, chunks_per_worker: int = 1,
                   group_key: GroupKey | None = None, cost_key: CostKey | None = None,
                   planner: ChunkPlanner | None = None) -> list[tuple[int, ...]]:
    """The chunks a pool hands out, in order (see the module docstring)."""
    if planner is not None and archs:
        try:
            chunks = [tuple(chunk) for chunk in planner(archs, workers)]
            if sorted(i for chunk in chunks for i in chunk) != list(range(len(archs))):
                raise ValueError(f"its chunks {chunks} do not hold positions 0 to "
                                 f"{len(archs) - 1} once each")
            return chunks
        except Exception:
            logger.warning("Planning the chunks by stacks failed; splitting the batch evenly",
                           exc_info=True)
    chunks = plan_chunks(archs, workers * chunks_per_worker, group_key)
    return costliest_first(chunks, archs, cost_key)
