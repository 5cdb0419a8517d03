"""What an op's `build(op, ctx)` receives besides the op: `BuildCtx`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from nasforge.searchspace.plan_ops import Branch
from nasforge.searchspace.specs import LayerSpec, layer_spec, resolve, spec_of

Builder = Callable[[Any, "BuildCtx"], nn.Module]
Checker = Callable[[Any], "str | None"]


class BuildCtx:
    """Builds ops through their specs: composite ops build their children with `branch` /
    `module`, norms and activations find their layer spec with `layer`. Every reference is
    resolved once per build (`prepare`), so that a missing one fails before any module exists.
    """

    def __init__(self) -> None:
        self._builders: dict[type, Builder] = {}
        self._checks: dict[type, Checker | None] = {}
        self._layers: dict[tuple[str, str], LayerSpec] = {}

    def prepare(self, op: object) -> None:
        """Resolve the build and check of `op`'s spec (UnknownNameError for an op type
        without a spec, SpaceError for a reference that cannot be imported)."""
        kind = type(op)
        if kind not in self._builders:
            spec = spec_of(op)
            self._builders[kind] = resolve(spec.build)
            self._checks[kind] = None if spec.check is None else resolve(spec.check)

    def check(self, op: object) -> str | None:
        """Why `op` cannot be built, or None."""
        self.prepare(op)
        check = self._checks[type(op)]
        return None if check is None else check(op)

    def module(self, op: object) -> nn.Module:
        """The module of one op."""
        self.prepare(op)
        return self._builders[type(op)](op, self)

    def branch(self, part: Branch) -> nn.Module:
        """The ops of a branch in an ``nn.Sequential``; ``nn.Identity`` for an empty branch."""
        if not part.ops:
            return nn.Identity()
        return nn.Sequential(*(self.module(op) for op in part.ops))

    def layer(self, role: str, kind: str) -> LayerSpec:
        """The spec of activation or norm `kind` (`role` "activation" / "norm"), looked up
        once per build; calling it builds the layer: ``ctx.layer("norm", k)(channels, dims)``."""
        key = (role, kind)
        if key not in self._layers:
            self._layers[key] = layer_spec(role, kind)
        return self._layers[key]
