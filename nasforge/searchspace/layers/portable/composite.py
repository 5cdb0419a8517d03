"""Composite and shape modules of a plan: global average pooling, DAG cells, residual blocks."""

from __future__ import annotations

import torch
from torch import nn


class GlobalAvgPool(nn.Module):
    """(N, C, *spatial) -> (N, C): the mean over the `dims` spatial axes."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self._axes = tuple(range(2, 2 + dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self._axes)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Cell(nn.Module):
    """A DAG cell: (N, C, *s) -> (N, C, *s).

    `edges["j_i"]` computes edge j <- i; node j is the sum of its incoming edges, node 0 the
    input, node `nodes - 1` the output; a node without edges is zero.
    """

    def __init__(self, nodes: int, edges: dict[str, nn.Module]) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict(edges)
        pairs = [tuple(int(n) for n in key.split("_")) for key in edges]
        self._incoming = [[(source, f"{to}_{source}") for (t, source) in pairs if t == to]
                          for to in range(nodes)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in range(1, self.nodes):
            terms = [self.edges[key](nodes[source]) for source, key in self._incoming[to]]
            nodes.append(torch.stack(terms).sum(0) if len(terms) > 1 else
                         terms[0] if terms else torch.zeros_like(x))
        return nodes[-1]


class Residual(nn.Module):
    """main(x) + shortcut(x) (an empty shortcut is the identity)."""

    def __init__(self, main: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.main, self.shortcut = main, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)
