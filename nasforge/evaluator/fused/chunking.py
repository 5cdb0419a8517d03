"""How a CPU `WorkerPool` cuts a round into chunks: the stacks the fused policy would train,
whole, and every other candidate alone, costliest first.

Why: a worker fuses only within the chunk it is handed. Cutting a round by position (or by
fusion key into equal-sized chunks) mixes narrow and wide candidates, and on a CPU only
stacks of narrow models pay (`docs/benchmarks.md`, issue 19): a chunk of four random
candidates rarely holds a stack worth training, and a stack of wide ones trains slower than
its members one after another.

`StackChunks(spec, threads, worker_threads)(archs, workers)`: candidates grouped by
`buckets.fusion_key` -> each group cut by the per-machine cost model
(`costmodel.plan_stacks`, at the threads its candidates train with in a worker) -> a stack
the policy fuses, or would probe (`FusedPolicy.may_fuse`), is one chunk; any other candidate
is a chunk of its own -> a stack predicted to cost more than a worker's share of the round is
cut into parts (narrowest with narrowest), so no worker trains alone while the others idle
-> chunks by predicted cost (seconds per step x steps), costliest first (longest processing
time first). A candidate the planner cannot read (invalid, or not fusable) is a chunk of its
own; an invalid one costs 0 and goes last (its evaluator fails it fast). Without a cost
model (it could not be loaded: logged once), each fusion group goes out whole, cut by
count, and the workers' policies probe. Each worker's own policy then decides its chunk as
it would inline: the same cost model cuts a planned stack into the same stack.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nasforge.evaluator.fused.costmodel import CostModel, plan_stacks, widest
from nasforge.evaluator.fused.policy import FusedPolicy, ModelSource, default_model
from nasforge.evaluator.threads import candidate_threads, torch_threads
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.plan import DataSpec, NetworkPlan

__all__ = ["StackChunks"]

logger = logging.getLogger(__name__)

CPU = torch.device("cpu")


@dataclass(frozen=True, slots=True)
class _Candidate:
    index: int
    plan: NetworkPlan
    batch: int
    epochs: int


class StackChunks:
    """A `WorkerPool` chunk planner for a CPU (see the module docstring). `threads`: the
    config's `[training] threads`; `worker_threads`: each worker's torch threads (what
    "auto" gives a large candidate there). `model`: the cost model's source (default: the
    per-machine cache, calibrated on first use); `policy`: the margins the workers decide
    with (default: `FusedPolicy`'s defaults)."""

    def __init__(self, spec: DataSpec, threads: int | str, worker_threads: int, *,
                 model: ModelSource = default_model, policy: FusedPolicy | None = None
                 ) -> None:
        self.spec, self.threads, self.worker_threads = spec, threads, worker_threads
        self.model = model
        self.policy = policy or FusedPolicy(model=None)
        self._models: dict[int, CostModel | None] = {}

    def __call__(self, archs: Sequence[Architecture], workers: int) -> list[tuple[int, ...]]:
        """Positions of `archs` per chunk, in the order to hand them out."""
        chunks: list[tuple[float, tuple[int, ...]]] = []
        groups: dict[object, list[_Candidate]] = {}
        for index, arch in enumerate(archs):
            candidate, key = self._read(index, arch)
            if candidate is None:
                chunks.append((0.0, (index,)))
            elif key is None:
                chunks.append((self._alone(candidate), (index,)))
            else:
                groups.setdefault(key, []).append(candidate)
        for group in groups.values():
            chunks.extend(self._stacks(group))
        share = sum(cost for cost, _ in chunks) / max(1, workers)
        cut = [part for cost, members in chunks for part in _parts(cost, members, share)]
        return [members for _, members in sorted(cut, key=lambda chunk: -chunk[0])]

    def _read(self, index: int, arch: Architecture) -> tuple[_Candidate | None, object]:
        """(The candidate, its fusion key or None when it cannot stack); (None, None) for
        an architecture without a plan."""
        from nasforge.evaluator.fused.buckets import read_candidate

        try:
            entry = read_candidate(arch, self.spec)
        except Exception:  # invalid: its evaluator reports it
            return None, None
        return _Candidate(index, entry.plan, entry.params.batch_size,
                          entry.params.epochs), entry.key

    def _model(self, plans: Sequence[NetworkPlan], batch: int) -> CostModel | None:
        """The cost model at the threads these candidates train with in a worker (as
        `LocalEvaluator` decides a group: by its largest member); None when it could not be
        loaded (logged once per thread count)."""
        threads = candidate_threads(max(p.macs for p in plans), batch, self.threads,
                                    self.worker_threads)
        if threads not in self._models:
            try:
                with torch_threads(threads):
                    self._models[threads] = self.model(CPU)
            except Exception:
                logger.warning("The fused cost model could not be loaded or calibrated; each "
                               "fusion group goes to the workers whole (they probe)",
                               exc_info=True)
                self._models[threads] = None
        return self._models[threads]

    def _alone(self, candidate: _Candidate) -> float:
        model = self._model([candidate.plan], candidate.batch)
        if model is None:
            return _steps(candidate)
        return model.alone_step(candidate.plan, candidate.batch) * _steps(candidate)

    def _stacks(self, group: list[_Candidate]) -> list[tuple[float, tuple[int, ...]]]:
        first = group[0]
        plans = [c.plan for c in group]
        model = self._model(plans, first.batch)
        if model is None:  # a candidate's steps stand for its cost
            return [(len(group) * _steps(first), tuple(c.index for c in group))]
        out: list[tuple[float, tuple[int, ...]]] = []
        for stack in plan_stacks(plans, first.batch, model):
            members = sorted((group[i] for i in stack.members),  # as plan_stacks joins them
                             key=lambda c: (-widest(c.plan), -c.plan.macs, c.index))
            if len(members) > 1 and self.policy.may_fuse(stack.fused, stack.alone):
                cost = min(stack.fused, stack.alone) * _steps(first)
                out.append((cost, tuple(c.index for c in members)))
            else:
                out.extend((model.alone_step(c.plan, c.batch) * _steps(c), (c.index,))
                           for c in members)
        return out


def _steps(candidate: _Candidate) -> float:
    """Training steps over the training set's size (a factor every candidate shares)."""
    return candidate.epochs / candidate.batch


def _parts(cost: float, members: tuple[int, ...], share: float
           ) -> list[tuple[float, tuple[int, ...]]]:
    """A stack predicted above a worker's `share` cut into that many parts (equal counts,
    in the order `plan_stacks` joins them: widest first), each costing its part."""
    count = min(len(members), math.ceil(cost / share - 1e-9)) if share > 0 else 1
    if count <= 1:
        return [(cost, members)]
    size = math.ceil(len(members) / count)
    return [(cost * len(members[i:i + size]) / len(members), tuple(sorted(members[i:i + size])))
            for i in range(0, len(members), size)]
