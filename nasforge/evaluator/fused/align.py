"""Aligning plans of different depth, norm kind and dropout rate into the slots of one stack.

A stack runs a sequence of slots; model m runs its own ops in order, one per slot, and
passes its activation through unchanged (identity) at the slots it skips. Only flat
"skippable" ops can be skipped: Linear, Norm, Activation and Dropout on 1-D features
(`skippable`). Every other op is an anchor: all stacked models must have equal anchors
(`align_key`), and between two anchors each model's skippable ops are merged into one
supersequence of slot kinds (`align`: a longest-common-subsequence merge, model by model,
preferring early matches so a shallower model uses the first layers).

A slot's kind (`slot_kind`) says which ops may share it: any Linear (bias or not, any sizes),
a Norm of one stacked implementation (batch and layer norm get separate slots), any
elementwise Activation (a model skipping it applies `nn.Identity`), any Dropout (a model
skipping it has rate 0 and draws nothing). Plans whose ops need exact sizes (quantized or
grouped) align only with plans of exactly their structure (`stack.stack_key`), slot by op.

A skipping model's size at a slot is its pass-through size; stand-in ops of that size
(`Slot.stand_ins`) give the stack its padded shapes, so the identity fits the padded tensors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from nasforge.evaluator.fused.layers import FusionError
from nasforge.evaluator.fused.ops import fused_impl
from nasforge.searchspace.plan import NetworkPlan
from nasforge.searchspace.plan_ops import PlanOp
from nasforge.searchspace.specs import spec_of

__all__ = ["Aligner", "Alignment", "Slot", "align", "align_key", "donor", "gated",
           "groups_by_kind", "identity", "ordered_alignment", "per_model_random", "skippable",
           "slot_kind", "stack_key", "stack_order"]

def _ask(op: PlanOp, question: str, default: Any) -> Any:
    """The answer of `op`'s stacked implementation (`fused.layers.Op`'s methods of that name;
    an implementation without the method gives `default`)."""
    method = getattr(fused_impl(spec_of(op).fused), question, None)
    return default if method is None else method(op)


def skippable(op: PlanOp, before: tuple[int, ...], after: tuple[int, ...]) -> bool:
    """True for an op a stacked model may skip: one whose implementation has a `skip_kind`
    (linear, norm, activation, dropout), on flat (1-D) features."""
    return len(before) == 1 and len(after) == 1 and _ask(op, "skip_kind", None) is not None


def slot_kind(op: PlanOp) -> object:
    """Which ops may share a slot (its implementation's `skip_kind`; an anchor's type)."""
    kind = _ask(op, "skip_kind", None)
    return kind if kind is not None else (type(op).__name__,)


def gated(op: PlanOp) -> bool:
    """Whether a model skipping `op`'s slot has its output selected per model
    (`torch.where`: linear, norm) rather than running an identity stand-in."""
    return bool(_ask(op, "gated", False))


def identity(op: PlanOp) -> dict[str, Any] | None:
    """Parameters that make the stand-in `op` the identity (`fused.layers.Op.identity`), or
    None where a skipping model's output is selected with `torch.where`."""
    return cast("dict[str, Any] | None", _ask(op, "identity", None))


def donor(op: PlanOp) -> PlanOp:
    """The op whose parameter shapes pad `op`'s slot (a linear with its bias)."""
    return cast(PlanOp, _ask(op, "donor", op))


def per_model_random(op: PlanOp) -> bool:
    return bool(_ask(op, "per_model_random", False))


def groups_by_kind(op: PlanOp) -> bool:
    return bool(_ask(op, "groups_by_kind", False))


def stack_key(plan: NetworkPlan) -> tuple[object, ...]:
    """What must be equal for plans to stack op by op: the structure without sizes or
    activation kinds (each op's `FusedImpl.key`), the input and the output shape (where an op
    needs `exact_sizes`, e.g. grouped convs or quantized layers: the sizes too, as padded
    units would shift their groups or their observed ranges)."""
    ops = tuple(_key(op, sig) for op, sig in zip(plan.ops, plan.signature(), strict=True))
    return (ops, plan.input_shape, plan.output_shape, plan.shapes if _exact(plan) else None)


def _key(op: PlanOp, sig: object) -> object:
    """`op`'s part of `stack_key`: its implementation's `key` (its signature if none)."""
    impl = fused_impl(spec_of(op).fused)
    return sig if impl is None else impl.key(op, sig)


def _exact(plan: NetworkPlan) -> bool:
    return any(_ask(op, "exact_sizes", False) for op in plan.ops)


def _befores(plan: NetworkPlan) -> list[tuple[int, ...]]:
    return [plan.input_shape, *plan.shapes[:-1]]


def align_key(plan: NetworkPlan) -> tuple[object, ...]:
    """What plans must share to be aligned into one stack: their anchors (each op's part of
    `stack_key`), input and output shapes; for plans needing exact sizes, `stack_key`."""
    if _exact(plan):
        return ("exact", stack_key(plan))
    anchors = tuple(_key(op, sig) for op, sig, before, after in zip(
        plan.ops, plan.signature(), _befores(plan), plan.shapes, strict=True)
        if not skippable(op, before, after))
    return ("aligned", anchors, plan.input_shape, plan.output_shape)


@dataclass(frozen=True, slots=True)
class Slot:
    """One slot of a stack: model m's op here (`ops[m]`, None where it skips the slot), that
    op's position in model m's plan (`index[m]`) and model m's output shape here
    (`shapes[m]`: its input shape where it skips)."""

    ops: tuple[PlanOp | None, ...]
    index: tuple[int | None, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def complete(self) -> bool:
        return all(op is not None for op in self.ops)

    @property
    def reference(self) -> PlanOp:
        """The first model's op here (the slot's kind)."""
        return next(op for op in self.ops if op is not None)

    def stand_ins(self) -> tuple[PlanOp, ...]:
        """Each model's op, with an identity-sized stand-in where it skips the slot."""
        ref = self.reference
        return tuple(op if op is not None else _stand_in(ref, shape[0])
                     for op, shape in zip(self.ops, self.shapes, strict=True))


def _stand_in(ref: PlanOp, width: int) -> PlanOp:
    impl = fused_impl(spec_of(ref).fused)
    assert impl is not None and hasattr(impl, "stand_in"), "only skippable slots are skipped"
    return cast(PlanOp, impl.stand_in(ref, width))


@dataclass(frozen=True, slots=True)
class Alignment:
    """The slots of a stack of `len(slots[0].ops)` models."""

    slots: tuple[Slot, ...]

    @property
    def padded_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Each slot's output shape in the stack: the largest over the models, per dimension."""
        return tuple(tuple(max(dims) for dims in zip(*slot.shapes, strict=True))
                     for slot in self.slots)

    def padded_macs(self) -> int:
        """Per-sample MACs of one model of the stack (every slot at its padded sizes, as the
        stack computes it, skipping models included)."""
        return self.padded_cost()[0]

    def padded_cost(self) -> tuple[int, int]:
        """(MACs per sample, parameters) of one model of the stack at its padded sizes."""
        macs = params = 0
        for slot, shape in zip(self.slots, self.padded_shapes, strict=True):
            ops = slot.stand_ins()
            spec = spec_of(ops[0])
            sizes = {name: max(getattr(op, name) for op in ops)
                     for name in spec.size_fields if hasattr(ops[0], name)}
            padded = dataclasses.replace(ops[0], **sizes) if sizes else ops[0]  # type: ignore[type-var]  # frozen dataclass ops
            cost = spec.cost(padded, shape)
            macs += cost.macs
            params += cost.params or 0
        return macs, params


def ordered_alignment(plans: Sequence[NetworkPlan]) -> Alignment:
    """The alignment of `plans` as a stack trains them (in `stack_order`)."""
    return align([plans[i] for i in stack_order(plans)])


def stack_order(plans: Sequence[NetworkPlan]) -> list[int]:
    """An order of `plans` (indices) that trains them fastest as one stack: where possible,
    the models that run each selected slot (a norm some skip) side by side, so the stack
    runs it on their slice only (`layers.Layer.narrow_present`; a slot left scattered
    selects per model), and within those, equal activation kinds side by side (fewer groups
    to gather). The order changes no model's result.

    The slots depend on the order the plans are aligned in, so the order is sorted by the
    slots of the order before until it stays (a few rounds at most)."""
    order = list(range(len(plans)))
    for _ in range(4):
        slots = align([plans[i] for i in order]).slots
        selected = [slot for slot in slots if not slot.complete and gated(slot.reference)
                    and identity(slot.reference) is None]
        kinds = [slot for slot in slots if groups_by_kind(slot.reference)]

        def key(m: int, selected: list[Slot] = selected, kinds: list[Slot] = kinds
                ) -> tuple[object, ...]:
            runs = tuple(slot.index[m] is None for slot in selected)  # running first
            acts = tuple("" if (op := slot.ops[m]) is None else str(getattr(op, "kind", op))
                         for slot in kinds)
            return (runs, acts)

        again = [order[m] for m in sorted(range(len(order)), key=key)]
        if again == order:
            break
        order = again
    return order


def align(plans: Sequence[NetworkPlan]) -> Alignment:
    """The slots of a stack of `plans`; `FusionError` unless their `align_key`s are equal."""
    aligner = Aligner()
    for plan in plans:
        aligner = aligner.add(plan)
    return aligner.alignment()


class Aligner:
    """Plans merged one at a time (`add` returns a new aligner; this one is unchanged), so a
    bucket planner can try one more candidate on a stack cheaply."""

    def __init__(self, plans: tuple[NetworkPlan, ...] = (), key: object = None,
                 segments: tuple[tuple[tuple[object, dict[int, int]], ...], ...] = (),
                 anchors: tuple[tuple[int, ...], ...] = ()) -> None:
        self.plans, self.key = plans, key
        self.segments = segments  # per segment: (slot kind, {model: op index}) per slot
        self.anchors = anchors  # per anchor: each model's op index

    def add(self, plan: NetworkPlan) -> Aligner:
        key = align_key(plan)
        if self.plans and key != self.key:
            raise FusionError("The plans differ in more than depth, widths, norm kinds, "
                              "activations and dropout rates (their anchor ops differ); they "
                              "cannot be aligned into one stack.")
        m = len(self.plans)
        own = _segments(plan)
        if key[0] == "exact":  # op by op
            segments = tuple(((None, {**(self.segments[i][0][1] if m else {}), m: i}),)
                             for i in range(len(plan.ops)))
            return Aligner((*self.plans, plan), key, segments, ())
        merged = tuple(tuple(_merge(list(self.segments[k]) if m else [],
                                    [(slot_kind(plan.ops[i]), i) for i in run], m))
                       for k, (run, _) in enumerate(own))
        anchors = tuple((*(self.anchors[k] if m else ()), anchor)
                        for k, (_, anchor) in enumerate(own) if anchor is not None)
        return Aligner((*self.plans, plan), key, merged, anchors)

    def alignment(self) -> Alignment:
        columns: list[dict[int, int]] = []
        for k, segment in enumerate(self.segments):
            columns.extend(members for _, members in segment)
            if k < len(self.anchors):
                columns.append(dict(enumerate(self.anchors[k])))
        return _slots(self.plans, columns)


def _segments(plan: NetworkPlan) -> list[tuple[list[int], int | None]]:
    """[(skippable op indices, the anchor index after them or None at the end)]."""
    out: list[tuple[list[int], int | None]] = []
    run: list[int] = []
    for i, (op, before, after) in enumerate(zip(plan.ops, _befores(plan), plan.shapes,
                                                strict=True)):
        if skippable(op, before, after):
            run.append(i)
        else:
            out.append((run, i))
            run = []
    out.append((run, None))
    return out


def _merge(merged: list[tuple[object, dict[int, int]]], seq: list[tuple[object, int]],
           model: int) -> list[tuple[object, dict[int, int]]]:
    """Merge model `model`'s (kind, op index) sequence into the slots so far: a longest
    common subsequence of kinds shares slots, matched as early as possible."""
    a, b = [kind for kind, _ in merged], [kind for kind, _ in seq]
    lcs = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            lcs[i][j] = (lcs[i + 1][j + 1] + 1 if a[i] == b[j]
                         else max(lcs[i + 1][j], lcs[i][j + 1]))
    out: list[tuple[object, dict[int, int]]] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j] and lcs[i][j] == lcs[i + 1][j + 1] + 1:
            out.append((a[i], {**merged[i][1], model: seq[j][1]}))
            i, j = i + 1, j + 1
        elif i < len(a) and (j == len(b) or lcs[i + 1][j] >= lcs[i][j + 1]):
            out.append(merged[i])
            i += 1
        else:
            out.append((b[j], {model: seq[j][1]}))
            j += 1
    return out


def _slots(plans: Sequence[NetworkPlan], columns: list[dict[int, int]]) -> Alignment:
    current = [plan.input_shape for plan in plans]
    slots = []
    for members in columns:
        ops, index = [], []
        for m, plan in enumerate(plans):
            i = members.get(m)
            ops.append(None if i is None else plan.ops[i])
            index.append(i)
            if i is not None:
                current[m] = plan.shapes[i]
        slots.append(Slot(tuple(ops), tuple(index), tuple(current)))
    return Alignment(tuple(slots))
