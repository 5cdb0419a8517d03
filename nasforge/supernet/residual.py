"""The elastic rule of the Residual op (``nasforge.supernet.residual:RESIDUAL``): main(x) +
shortcut(x), each branch run by the rules of the ops inside it, on the slots of those layers
(`block_slots.block_layer_slots` of the block's slot; the shortcut's layers under
``<slot>_shortcut``). A block is residual in one subnet and not in another (its first block
when the stage's width changes): both read the same slots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nasforge.searchspace.plan_ops import Branch
from nasforge.supernet.block_slots import block_layer_slots
from nasforge.supernet.rules import SlotShape, Step, rule_of

if TYPE_CHECKING:
    from nasforge.supernet.model import Supernet


def _branch(prefix: str, branch: Branch) -> list[tuple[Any, str]]:
    roles = [rule_of(op).role for op in branch.ops]
    return list(zip(branch.ops, block_layer_slots(prefix, branch.ops, roles), strict=True))


class ResidualRule:
    """See the module docstring; `nested` tells the supernet's discovery the layers inside."""

    role = "residual"
    stage = 3

    def nested(self, op: Any, slot: str) -> list[tuple[Any, str]]:
        return _branch(slot, op.main) + _branch(f"{slot}_shortcut", op.shortcut)

    def slot_shape(self, op: Any, slot: str) -> SlotShape | None:
        return None

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        pass

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        main = [net.rule(o).step(net, o, s) for o, s in _branch(slot, op.main)]
        shortcut = [net.rule(o).step(net, o, s)
                    for o, s in _branch(f"{slot}_shortcut", op.shortcut)]

        def step(x: torch.Tensor, training: bool) -> torch.Tensor:
            y = x
            for part in main:
                y = part(y, training)
            z = x
            for part in shortcut:
                z = part(z, training)
            return y + z
        return step

    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]:
        return tuple(m for o, s in self.nested(op, slot) for m in net.rule(o).modules(net, o, s))

    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None:
        built: Any = module  # composite.Residual: nn.Sequential branches (nn.Identity if empty)
        for part, branch, prefix in ((built.main, op.main, slot),
                                     (built.shortcut, op.shortcut, f"{slot}_shortcut")):
            for j, (o, s) in enumerate(_branch(prefix, branch)):
                net.rule(o).copy_into(net, part[j], o, s)


RESIDUAL = ResidualRule()
