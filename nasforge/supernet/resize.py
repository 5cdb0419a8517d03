"""The elastic rule of the Resize op (``nasforge.supernet.resize:RESIZE``), Once-for-All's
elastic resolution: each subnet resizes the raw input to its own resolution and runs on the
shared weights, which do not depend on it (convolutions slide over any size; a CNN head that
reads flattened features has a slot per number of positions, see `slots.layer_slots`)."""

from __future__ import annotations

from typing import Any

import torch

from nasforge.searchspace.layers.portable.resize import Resize as ResizeModule
from nasforge.supernet.rules import Fixed, Step


def _resize(op: Any) -> Step:
    module = ResizeModule(op.in_size, (op.size,) * op.dims, op.mode)

    def step(x: torch.Tensor, training: bool) -> torch.Tensor:
        if module.matrix0.device != x.device:
            module.to(x.device)
        y: torch.Tensor = module(x)
        return y
    return step


RESIZE = Fixed(_resize)
