"""The cell encoding shared by the NAS-Bench-201 tables and the `cell` family.

A cell is a DAG of `nodes` nodes: node 0 is the cell input, node ``nodes - 1`` its output,
and node j sums an operation applied to every earlier node i. The edge j<-i is the parameter
``cell.edge_j_i`` whose value is an operation name; ``"none"`` means the edge outputs zero
(does not exist), ``"skip_connect"`` is the identity. Edges are ordered by target, then
source (`cell_edges`); a NAS-Bench-201 cell has 4 nodes, so its 6 edges are
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (the benchmark's and the tables' order), each one of the 5
operations `NB201_OPS`.

Many encodings build the same network. `canonical_cell` maps each to one representative:

1. *Dead edges* become ``"none"``: a network uses an edge only when it lies on a path from
   the input to the output through non-none edges (its source is reachable from node 0 and
   node n-1 is reachable from its target). When the output is unreachable every edge is dead.
2. *Isomorphic cells* (a relabelling of the intermediate nodes 1..n-2 that maps one
   edge-labelled DAG onto the other, edges still going from lower to higher index) share a
   representative: of all such relabellings of the pruned cell, the one whose tuple of
   operations in `cell_edges` order is lexicographically smallest (plain string order).

The relabellings are tried by brute force (at most 4! = 24, for 6 nodes), so canonical forms
are offered for ``2 <= nodes <= MAX_CANONICAL_NODES``. No other identity is applied: a
``skip_connect`` edge is an edge like any other (NAS-Bench-201's own "unique" count also
merges nodes joined by a skip connection; see the tests for the numbers).

The raw space (`nb201_space`, 15,625 cells) is what the tabular benchmark indexes; a search
over canonical cells passes ``canonicalize=CellCanonicalizer(4)`` to its `SearchSpace`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Scalar
from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace

if TYPE_CHECKING:
    import networkx as nx

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                              "avg_pool_3x3")
#: The operation of an absent edge (outputs zero).
NONE = "none"
#: Largest cell `canonical_cell` accepts: it tries every order of the n-2 intermediate nodes.
MAX_CANONICAL_NODES = 6


def edge_param(to: int, source: int, family: str = "cell") -> str:
    """The parameter name of edge `to` <- `source`: ``cell.edge_3_1``."""
    return f"{family}.edge_{to}_{source}"


EDGE_PARAMS: tuple[str, ...] = tuple(edge_param(j, i) for j, i in NB201_EDGES)


def _check_nodes(nodes: object, most: int | None = None) -> int:
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 2:
        raise SpaceError(f"A cell has nodes={nodes!r}; it needs a whole number >= 2 (an input "
                         "and an output node).")
    if most is not None and nodes > most:
        raise SpaceError(f"canonical_cell supports cells of at most {most} nodes (it tries "
                         f"every order of the intermediate nodes); got nodes={nodes}. Use a "
                         "smaller cell or no canonicalisation.")
    return nodes


@cache
def cell_edges(nodes: int) -> tuple[tuple[int, int], ...]:
    """Every edge ``(to, source)`` of a cell of `nodes` nodes, by target then source; for 4
    nodes this is `NB201_EDGES`."""
    _check_nodes(nodes)
    return tuple((j, i) for j in range(1, nodes) for i in range(j))


@cache
def _relabellings(nodes: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """For every order of the intermediate nodes (identity first): ``(gather, forbidden)``.

    Under the relabelling, new edge k carries the operation of old edge ``gather[k]`` (-1:
    none lands there). `forbidden` is a bit mask of the old edges that would point backwards
    (to a lower index); the relabelling is valid only when all of them are none.
    """
    edges = cell_edges(nodes)
    index = {edge: k for k, edge in enumerate(edges)}
    out = []
    for middle in itertools.permutations(range(1, nodes - 1)):
        old = (0, *middle, nodes - 1)  # old[new node] = old node (the inverse relabelling)
        gather, forbidden = [], 0
        for to, source in edges:
            a, b = old[to], old[source]
            if a > b:
                gather.append(index[a, b])
            else:
                gather.append(-1)
                forbidden |= 1 << index[b, a]
        out.append((tuple(gather), forbidden))
    return tuple(out)


def _live_mask(ops: tuple[str, ...], nodes: int) -> int:
    """Bit mask of the edges on an input -> output path through non-none edges."""
    edges = cell_edges(nodes)
    present = [op != NONE for op in ops]
    reached = [True] + [False] * (nodes - 1)  # from node 0; edges come sorted by target
    for k, (to, source) in enumerate(edges):
        if present[k] and reached[source]:
            reached[to] = True
    leads = [False] * (nodes - 1) + [True]  # to node n-1; reverse order visits targets first
    for k in range(len(edges) - 1, -1, -1):
        to, source = edges[k]
        if present[k] and leads[to]:
            leads[source] = True
    mask = 0
    for k, (to, source) in enumerate(edges):
        if present[k] and reached[source] and leads[to]:
            mask |= 1 << k
    return mask


@lru_cache(maxsize=1 << 16)
def _canonical_ops(ops: tuple[str, ...], nodes: int) -> tuple[str, ...]:
    mask = _live_mask(ops, nodes)
    live = tuple(op if mask >> k & 1 else NONE for k, op in enumerate(ops))
    best = live
    for gather, forbidden in _relabellings(nodes)[1:]:
        if mask & forbidden:
            continue
        candidate = tuple(live[g] if g >= 0 else NONE for g in gather)
        if candidate < best:
            best = candidate
    return best


@lru_cache(maxsize=256)
def _edge_names(nodes: int, family: str) -> tuple[str, ...]:
    return tuple(edge_param(j, i, family) for j, i in cell_edges(nodes))


def _cell_ops(values: Mapping[str, object], nodes: int, family: str
              ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(edge names, their operations); None when `values` holds no edge of this cell."""
    names = _edge_names(nodes, family)
    present = [name for name in names if name in values]
    if not present:
        return None
    if len(present) < len(names):
        missing = [name for name in names if name not in values]
        raise SpaceError(f"The {nodes}-node cell {family!r} lacks edges {', '.join(missing)}; "
                         "give every edge j<-i (use 'none' for an absent edge).")
    prefix = f"{family}.edge_"
    extra = [k for k in values if k.startswith(prefix) and k not in names]
    if extra:
        raise SpaceError(f"Parameters {', '.join(extra)} are not edges of a {nodes}-node cell "
                         f"{family!r}; is `nodes` right?")
    ops = tuple(values[name] for name in names)
    bad = [(name, op) for name, op in zip(names, ops, strict=True) if not isinstance(op, str)]
    if bad:
        raise SpaceError(f"Cell edge {bad[0][0]!r} has value {bad[0][1]!r}; edge values are "
                         "operation names (strings).")
    return names, tuple(op for op in ops if isinstance(op, str))  # all of them (checked)


def canonical_cell(values: Mapping[str, Scalar], nodes: int, family: str = "cell"
                   ) -> dict[str, Scalar]:
    """`values` with the edges of the cell rewritten to its canonical form (see the module
    docstring); other keys unchanged, key order kept. Idempotent.

    Values holding no edge of this cell (another family of a multi-family space) come back
    unchanged; a partial cell, edges beyond `nodes`, non-string operations or more than
    `MAX_CANONICAL_NODES` nodes raise SpaceError. Results are cached per operation tuple.
    """
    _check_nodes(nodes, MAX_CANONICAL_NODES)
    found = _cell_ops(values, nodes, family)
    out = dict(values)
    if found is None:
        return out
    names, ops = found
    out.update(zip(names, _canonical_ops(ops, nodes), strict=True))
    return out


@dataclass(frozen=True, slots=True)
class CellCanonicalizer:
    """`canonical_cell` as a value: ``SearchSpace(..., canonicalize=CellCanonicalizer(4))``.

    Unlike a lambda it compares by value (spaces built twice are equal) and pickles.
    """

    nodes: int
    family: str = "cell"

    def __post_init__(self) -> None:
        _check_nodes(self.nodes, MAX_CANONICAL_NODES)

    def __call__(self, values: Mapping[str, Scalar]) -> dict[str, Scalar]:
        return canonical_cell(values, self.nodes, self.family)

    def describe(self) -> dict[str, object]:
        return {"canonical": "cell", "nodes": self.nodes, "family": self.family}


def cell_graph(values: Mapping[str, Scalar], nodes: int, family: str = "cell",
               pruned: bool = False) -> nx.DiGraph:
    """The cell as a DiGraph on nodes ``0..nodes-1``: an edge ``source -> to`` with attribute
    ``op`` for every non-none edge. `pruned` drops the dead edges too (a network's graph)."""
    import networkx as nx

    _check_nodes(nodes)
    found = _cell_ops(values, nodes, family)
    if found is None:
        raise SpaceError(f"The values hold no edge of the {nodes}-node cell {family!r} "
                         f"(e.g. {edge_param(1, 0, family)!r}).")
    ops = found[1]
    mask = _live_mask(ops, nodes) if pruned else (1 << len(ops)) - 1
    graph = nx.DiGraph()
    graph.add_nodes_from(range(nodes))
    for k, ((to, source), op) in enumerate(zip(cell_edges(nodes), ops, strict=True)):
        if op != NONE and mask >> k & 1:
            graph.add_edge(source, to, op=op)
    return graph


def nb201_space() -> SearchSpace:
    """The 15,625 cells of NAS-Bench-201, with ``family = "cell"`` (raw, not canonicalised:
    the tables index every encoding)."""
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
