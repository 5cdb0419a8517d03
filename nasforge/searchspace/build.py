"""NetworkPlan -> nn.Sequential: the only place where plans become torch modules.

Each op is built by its spec (`specs.spec_of(op).build`, one module per op kind under
`searchspace/ops/`). Every spec reference, activation and norm name is resolved and every op
checked (`spec.check`) before any module is built: an unknown name raises the registry's
`UnknownNameError` (with the nearest names), an op that cannot be built a `SpaceError`, and
no parameter is initialised.

The result has one module per plan op, in order: ``model[i]`` implements ``plan.ops[i]`` and
its output has shape ``(N, *plan.shapes[i])``. Convolutions use 'same' padding (see
`searchspace/ops/conv.py` and `ops/padding.py`), so a spatial size ``s`` becomes
``ceil(s / stride)`` as the plan says.
"""

from __future__ import annotations

from torch import nn

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.buildable import EXAMPLES_PER_FAMILY, check_buildable
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.plan_ops import iter_ops

__all__ = ["EXAMPLES_PER_FAMILY", "BuildCtx", "build_from_plan", "build_model",
           "check_buildable", "check_plan"]


def build_model(arch: Architecture, data: DataSpec) -> nn.Sequential:
    """The freshly initialised network of `arch` for `data` (init draws from torch's global
    generator: wrap in `nasforge.evaluator.seeding.seeded` for a reproducible init)."""
    return build_from_plan(plan_for(arch, data))


def build_from_plan(plan: NetworkPlan) -> nn.Sequential:
    """One module per op of `plan`; input (N, *plan.input_shape) -> (N, *plan.output_shape).

    Raises `UnknownNameError` for an op type without a spec or an unregistered activation or
    norm, and `SpaceError` for an op the builder cannot make (unknown pool kind, bad dims, a
    shape that collapses to zero), in both cases before any module is built.
    """
    ctx = BuildCtx()
    check_plan(plan, ctx)
    return nn.Sequential(*(ctx.module(op) for op in plan.ops))


def check_plan(plan: NetworkPlan, ctx: BuildCtx | None = None) -> None:
    """Refuse a plan that cannot be built (see `build_from_plan`), building nothing."""
    ctx = ctx or BuildCtx()
    if len(plan.ops) != len(plan.shapes):
        raise SpaceError(
            f"Plan of family {plan.family!r} has {len(plan.ops)} ops but "
            f"{len(plan.shapes)} shapes; build plans with PlanBuilder."
        )
    every = list(iter_ops(plan.ops, plan.shapes))
    for op, _ in every:
        ctx.prepare(op)
    for i, (op, shape) in enumerate(every):
        where = f"Op {i} ({type(op).__name__}) of the {plan.family!r} plan"
        if any(d < 1 for d in shape):
            raise SpaceError(
                f"{where} reduces the shape to {shape}; use fewer or smaller pooling or "
                "strided stages for this input size."
            )
        reason = ctx.check(op)
        if reason:
            raise SpaceError(f"{where} cannot be built: {reason}")
