"""A linear model of a training step's time, alone and fused, fitted once per machine.

Per training step of batch B (`alone_features`, `fused_features`):

- alone: per-op overhead (ops), the optimizer's passes (params), arithmetic (B x MACs) and
  elementwise traffic (B x the summed op output sizes);
- a stack of M (its `align.Alignment`): per-slot overhead (slots), the per-model dropout
  streams (M x dropout slots), one call per activation group (distinct kinds per activation
  slot, summed), elementwise traffic (M x B x padded output sizes), the optimizer over the
  padded (M, P) parameters (M x padded params) and the padded arithmetic (M x B x padded
  MACs).

`fit` solves both by non-negative least squares from timed probes (`calibration`).
`plan_stacks` uses the model to cut a group of stackable candidates into stacks: candidates
sorted widest first, each joins the current stack while the stack's predicted step grows by
less than the candidate's own step alone; each stack's final prediction is made on the
alignment it trains in (`align.ordered_alignment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nasforge.evaluator.fused.align import (
    Aligner,
    Alignment,
    groups_by_kind,
    ordered_alignment,
    per_model_random,
)
from nasforge.searchspace.plan import NetworkPlan

__all__ = ["CostModel", "PlannedStack", "alone_features", "fit", "fused_features", "plan_stacks",
           "widest"]

ALONE_TERMS = ("op", "param", "flop", "traffic")
FUSED_TERMS = ("slot", "model_dropout", "act_group", "traffic", "param", "flop")


def alone_features(plan: NetworkPlan, batch: int) -> tuple[float, ...]:
    outputs = sum(math.prod(shape) for shape in plan.shapes)
    return (float(len(plan.ops)), float(plan.params or 0), float(batch * plan.macs),
            float(batch * outputs))


def fused_features(alignment: Alignment, batch: int) -> tuple[float, ...]:
    slots = alignment.slots
    m = len(slots[0].ops)
    macs, params = alignment.padded_cost()
    dropout = sum(per_model_random(slot.reference) for slot in slots)
    groups = sum(len({getattr(op, "kind", None) for op in slot.stand_ins()})
                 for slot in slots if groups_by_kind(slot.reference))
    outputs = sum(math.prod(shape) for shape in alignment.padded_shapes)
    return (float(len(slots)), float(m * dropout), float(groups), float(m * batch * outputs),
            float(m * params), float(m * batch * macs))


@dataclass(frozen=True, slots=True)
class CostModel:
    """Seconds per training step: `alone` and `fused` coefficients (`ALONE_TERMS`,
    `FUSED_TERMS`), all >= 0."""

    alone: tuple[float, ...]
    fused: tuple[float, ...]

    def __post_init__(self) -> None:
        if (len(self.alone) != len(ALONE_TERMS) or len(self.fused) != len(FUSED_TERMS)
                or any(not c >= 0 for c in (*self.alone, *self.fused))):
            raise ValueError(f"CostModel needs {len(ALONE_TERMS)} alone and "
                             f"{len(FUSED_TERMS)} fused coefficients, all >= 0; got "
                             f"{self.alone}, {self.fused}")

    def alone_step(self, plan: NetworkPlan, batch: int) -> float:
        return _dot(self.alone, alone_features(plan, batch))

    def fused_step(self, alignment: Alignment, batch: int) -> float:
        return _dot(self.fused, fused_features(alignment, batch))

    def as_dict(self) -> dict[str, list[float]]:
        return {"alone": list(self.alone), "fused": list(self.fused)}

    @classmethod
    def from_dict(cls, values: object) -> CostModel:
        """The model `as_dict` wrote; ValueError for anything else."""
        if not isinstance(values, dict):
            raise ValueError(f"a cost model is a mapping, got {type(values).__name__}")
        try:
            return cls(tuple(float(v) for v in values["alone"]),
                       tuple(float(v) for v in values["fused"]))
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a cost model: {err}") from err


def fit(alone: Sequence[tuple[tuple[float, ...], float]],
        fused: Sequence[tuple[tuple[float, ...], float]]) -> CostModel:
    """Non-negative least squares of (features, seconds) rows, each row weighted by 1 /
    seconds (relative errors count, not absolute ones)."""
    return CostModel(_nnls(alone), _nnls(fused))


def _nnls(rows: Sequence[tuple[tuple[float, ...], float]]) -> tuple[float, ...]:
    import numpy as np
    from scipy.optimize import nnls

    a = np.array([[f / max(t, 1e-12) for f in features] for features, t in rows])
    scale = np.maximum(a.max(axis=0), 1e-30)  # columns of very different magnitudes
    coef, _ = nnls(a / scale, np.ones(len(rows)))
    return tuple(float(c) for c in coef / scale)


def _dot(coef: Sequence[float], features: Sequence[float]) -> float:
    return sum(c * f for c, f in zip(coef, features, strict=True))


@dataclass(frozen=True, slots=True)
class PlannedStack:
    """Candidates (indices into the group) to train as one stack, with the model's predicted
    seconds per step fused and alone (summed)."""

    members: tuple[int, ...]
    fused: float
    alone: float


def plan_stacks(plans: Sequence[NetworkPlan], batch: int, model: CostModel
                ) -> list[PlannedStack]:
    """Cut `plans` (one fusion key) into stacks (see the module docstring); a stack of one is
    a candidate trained alone. Members keep the order of `plans`."""
    order = sorted(range(len(plans)), key=lambda i: (-widest(plans[i]), -plans[i].macs, i))
    stacks: list[PlannedStack] = []
    members: list[int] = []
    aligner, fused, alone = Aligner(), 0.0, 0.0
    for i in order:
        own = model.alone_step(plans[i], batch)
        trial = aligner.add(plans[i])
        cost = model.fused_step(trial.alignment(), batch)
        if members and cost - fused > own:
            stacks.append(PlannedStack(tuple(sorted(members)), fused, alone))
            members, trial = [], Aligner().add(plans[i])
            cost, alone = model.fused_step(trial.alignment(), batch), 0.0
        members.append(i)
        aligner, fused, alone = trial, cost, alone + own
    if members:
        stacks.append(PlannedStack(tuple(sorted(members)), fused, alone))
    # each stack's prediction from the alignment it trains in (`stack_order`'s)
    stacks = [stack if len(stack.members) < 2 else PlannedStack(
        stack.members, model.fused_step(ordered_alignment([plans[i] for i in stack.members]),
                                        batch), stack.alone) for stack in stacks]
    return sorted(stacks, key=lambda s: s.members[0])


def widest(plan: NetworkPlan) -> int:
    """The largest output of a weighted layer (what pads a stack's arithmetic)."""
    return max((math.prod(shape) for _, shape in plan.layers()), default=0)

