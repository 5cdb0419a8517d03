"""The cell encoding shared by the NAS-Bench-201 tables and the `cell` family.

A NAS-Bench-201 cell is a DAG of 4 nodes; node j sums an operation applied to every earlier
node i. Its 6 edges, in the benchmark's (and the tables') order, are
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, and each takes one of 5 operations. In a space the edge
j<-i is the parameter ``cell.edge_j_i`` (a Choice over `NB201_OPS`).
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                              "avg_pool_3x3")


def edge_param(to: int, source: int, family: str = "cell") -> str:
    """The parameter name of edge `to` <- `source`: ``cell.edge_3_1``."""
    return f"{family}.edge_{to}_{source}"


EDGE_PARAMS: tuple[str, ...] = tuple(edge_param(j, i) for j, i in NB201_EDGES)


def nb201_space() -> SearchSpace:
    """The 15,625 cells of NAS-Bench-201, with ``family = "cell"``."""
    return SearchSpace({"family": Choice(("cell",)),
                        **{name: Choice(NB201_OPS) for name in EDGE_PARAMS}})


def nb201_string(values: Mapping[str, object]) -> str:
    """The benchmark's architecture string, e.g.
    ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|...|``."""
    nodes = []
    for to in (1, 2, 3):
        ops = [f"{values[edge_param(to, source)]}~{source}" for source in range(to)]
        nodes.append("|" + "|".join(ops) + "|")
    return "+".join(nodes)
