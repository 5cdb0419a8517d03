"""The stacked Resize (``nasforge.evaluator.fused.resize:RESIZE``): parameter-free, one
module for every stacked model (their sizes are equal: the sizes are in the op's signature,
so models of different resolutions never share a stack)."""

from __future__ import annotations

from nasforge.evaluator.fused.layers import Layer, Op, Site, StackCtx, State
from nasforge.searchspace.layers.portable.resize import Resize as ResizeModule


class Resize(Op):
    """The resize matrices act on the trailing spatial axes, so either layout passes through
    unchanged: (M, B, C, *s) or (B, M * C, *s)."""

    def describe(self, site: Site) -> Layer:
        op = site.ops[0]
        module = ResizeModule(op.in_size, (op.size,) * op.dims, op.mode).to(site.device)
        return Layer(self, site.index, module=module)

    def forward(self, layer: Layer, state: State, ctx: StackCtx) -> State:
        assert layer.module is not None
        x, layout = state
        return layer.module(x), layout


RESIZE = Resize()
