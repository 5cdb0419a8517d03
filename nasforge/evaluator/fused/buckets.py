"""Which candidates train together: buckets of plans that stack, split where padding wastes.

Candidates with equal `stack.stack_key` and training settings (batch size, epochs,
optimizer, schedule) can share one stacked model, padded to the widest of them. Padding costs
arithmetic: a bucket's stacked step does M x `padded_macs` multiply-accumulates per sample
instead of the sum of the candidates' own. `split_by_padding` keeps that overhead at most
`max_padding` times the real work, except for tiny networks (padded MACs under `tiny_macs` per
sample), whose steps are dominated by per-op overhead, not arithmetic, so padding is free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from nasforge.evaluator.fused.align import align, align_key
from nasforge.evaluator.fused.stack import check_fusable
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan

T = TypeVar("T")

MAX_PADDING = 1.5
TINY_MACS = 20_000


def fusion_key(plan: NetworkPlan, params: TrainingParams) -> tuple[object, ...]:
    """What candidates must share to be stacked: `align.align_key` and the training settings
    that one stacked run shares (batch size, epochs, optimizer, schedule)."""
    return (align_key(plan), params.batch_size, params.epochs, params.optimizer,
            params.schedule)


@dataclass(frozen=True, slots=True)
class StackEntry:
    """A candidate as the fusion planners read it: its plan and training settings, and its
    `fusion_key`, or None with the reason (`why`) when it cannot be stacked."""

    plan: NetworkPlan
    params: TrainingParams
    key: tuple[object, ...] | None
    why: str = ""


def read_candidate(arch: Architecture, spec: DataSpec) -> StackEntry:
    """`arch`'s plan on data `spec`, its training settings and its fusion key (None where
    `check_fusable` refuses it, or no key can be made). Raises what `TrainingParams` or
    `plan_for` raise for an invalid architecture (its evaluator then reports it)."""
    params = TrainingParams.from_arch(arch)
    plan = plan_for(arch, spec)
    try:
        check_fusable(plan, f"candidate {arch.arch_id}")
        return StackEntry(plan, params, fusion_key(plan, params))
    except Exception as err:  # noqa: BLE001 - a candidate that cannot stack trains alone
        return StackEntry(plan, params, None, str(err))


def padded_macs(plans: Sequence[NetworkPlan]) -> int:
    """Per-sample MACs of one model of the stack (`align.Alignment.padded_macs`: every slot
    at the widest model's sizes, skipping models included)."""
    return align(plans).padded_macs()


def split_by_padding(items: Sequence[T], plan_of: Callable[[T], NetworkPlan], *,
                     max_padding: float = MAX_PADDING, tiny_macs: int = TINY_MACS
                     ) -> list[list[T]]:
    """Split stackable `items` into buckets: largest first, each item into the first bucket
    it fits (padded MACs <= max(max_padding x the bucket's mean MACs, tiny_macs)), else a
    new bucket. Order within a bucket follows `items`."""
    order = sorted(range(len(items)), key=lambda i: -plan_of(items[i]).macs)
    buckets: list[list[int]] = []
    for i in order:
        for bucket in buckets:
            plans = [plan_of(items[j]) for j in (*bucket, i)]
            mean = sum(p.macs for p in plans) / len(plans)
            if padded_macs(plans) <= max(max_padding * mean, tiny_macs):
                bucket.append(i)
                break
        else:
            buckets.append([i])
    return [[items[j] for j in sorted(bucket)] for bucket in buckets]
