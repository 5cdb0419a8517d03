"""Canonical cells: dead edges pruned, isomorphic cells merged, checked against networkx."""

from __future__ import annotations

import itertools
import pickle
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest

from nasforge.errors import SpaceError
from nasforge.searchspace.cells import (
    EDGE_PARAMS,
    MAX_CANONICAL_NODES,
    NB201_EDGES,
    NB201_OPS,
    CellCanonicalizer,
    canonical_cell,
    cell_edges,
    cell_graph,
    edge_param,
)

CONV, SKIP, POOL, NONE = "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none"


def cell(ops, nodes: int = 4, **extra) -> dict[str, object]:
    """Values of a cell from its operations in `cell_edges(nodes)` order."""
    names = [edge_param(j, i) for j, i in cell_edges(nodes)]
    return {**extra, **dict(zip(names, ops, strict=True))}


def ops_of(values, nodes: int = 4) -> tuple[str, ...]:
    return tuple(values[edge_param(j, i)] for j, i in cell_edges(nodes))


def pruned_graph(ops, nodes: int) -> nx.DiGraph:
    """Built here from scratch: the non-none edges on an input -> output path."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from((i, j, {"op": op}) for (j, i), op in zip(cell_edges(nodes), ops,
                                                                  strict=True) if op != NONE)
    alive_from = nx.descendants(graph, 0) | {0}
    alive_to = nx.ancestors(graph, nodes - 1) | {nodes - 1}
    graph.remove_edges_from([(i, j) for i, j in list(graph.edges)
                             if i not in alive_from or j not in alive_to])
    for v in graph.nodes:
        graph.nodes[v]["role"] = {0: "in", nodes - 1: "out"}.get(v, "mid")
    return graph


def isomorphic(g: nx.DiGraph, h: nx.DiGraph) -> bool:
    return nx.is_isomorphic(g, h, node_match=lambda a, b: a["role"] == b["role"],
                            edge_match=lambda a, b: a["op"] == b["op"])


def check_classes(cells: list[tuple[str, ...]], nodes: int) -> int:
    """canonical forms equal <=> pruned labelled graphs isomorphic; returns the class count.

    Within a class every member is isomorphic to the first; across classes, representatives
    that share a Weisfeiler-Lehman hash (a necessary condition for isomorphism) are compared
    pairwise and must not be isomorphic.
    """
    classes: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for ops in cells:
        classes[ops_of(canonical_cell(cell(ops, nodes), nodes), nodes)].append(ops)
    buckets: dict[str, list[nx.DiGraph]] = defaultdict(list)
    for members in classes.values():
        first = pruned_graph(members[0], nodes)
        for other in members[1:]:
            assert isomorphic(first, pruned_graph(other, nodes)), (members[0], other)
        key = nx.weisfeiler_lehman_graph_hash(first, edge_attr="op", node_attr="role")
        buckets[key].append(first)
    for graphs in buckets.values():
        for g, h in itertools.combinations(graphs, 2):
            assert not isomorphic(g, h), (list(g.edges(data="op")), list(h.edges(data="op")))
    return len(classes)


ALL_NB201 = list(itertools.product(NB201_OPS, repeat=6))


def test_cell_edges_generalise_the_nb201_order():
    assert cell_edges(4) == NB201_EDGES
    assert EDGE_PARAMS == tuple(f"cell.edge_{j}_{i}" for j, i in NB201_EDGES)
    assert cell_edges(2) == ((1, 0),)
    five = cell_edges(5)
    assert len(five) == 10 and list(five) == sorted(five) and all(j > i for j, i in five)
    for bad in (1, 0, True, 4.0):
        with pytest.raises(SpaceError, match="whole number >= 2"):
            cell_edges(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ops", "expected"), [
    # output unreachable (nothing enters node 3): every edge is dead
    ((CONV, CONV, CONV, NONE, NONE, NONE), (NONE,) * 6),
    # node 1 unreachable from the input: its outgoing edges 2<-1, 3<-1 are dead
    ((NONE, CONV, POOL, NONE, SKIP, CONV), (NONE, CONV, NONE, NONE, NONE, CONV)),
    # node 1 leads nowhere (2<-1, 3<-1 none): its incoming edge 1<-0 is dead
    ((CONV, POOL, NONE, SKIP, NONE, CONV), (NONE, POOL, NONE, SKIP, NONE, CONV)),
    # node 2 is a dead end and node 1 feeds only it: 1<-0, 2<-0, 2<-1 are dead
    ((CONV, POOL, CONV, SKIP, NONE, NONE), (NONE, NONE, NONE, SKIP, NONE, NONE)),
    # everything alive and 2<-1 present (no relabelling possible): unchanged
    ((CONV, POOL, SKIP, NONE, CONV, CONV), (CONV, POOL, SKIP, NONE, CONV, CONV)),
])
def test_dead_edges_become_none(ops, expected):
    values = cell(ops, family="cell", lr=0.1)
    live = [(i, j, op) for (j, i), op in zip(NB201_EDGES, expected, strict=True) if op != NONE]
    assert sorted(cell_graph(values, 4, pruned=True).edges(data="op")) == live
    out = canonical_cell(values, 4)
    assert ops_of(out) == ops_of(canonical_cell(cell(expected), 4))  # same, up to relabelling
    assert sorted(ops_of(out)) == sorted(expected)
    assert out["family"] == "cell" and out["lr"] == 0.1 and list(out) == list(values)
    assert values == cell(ops, family="cell", lr=0.1)  # the input is not modified


def test_relabelled_cells_share_a_representative_the_smallest_op_tuple():
    # live edges 2<-0 and 3<-2 only: the same chain as 1<-0, 3<-1 (node 2 renamed 1)
    a = (NONE, CONV, NONE, NONE, NONE, POOL)
    b = (CONV, NONE, NONE, NONE, POOL, NONE)
    assert ops_of(canonical_cell(cell(a), 4)) == ops_of(canonical_cell(cell(b), 4)) == min(a, b)


def test_swapping_nodes_1_and_2_without_edge_2_1_gives_the_same_cell():
    for e10, e20, e30, e31, e32 in itertools.product(NB201_OPS, repeat=5):
        ops = (e10, e20, NONE, e30, e31, e32)
        swapped = (e20, e10, NONE, e30, e32, e31)
        assert canonical_cell(cell(ops), 4) == canonical_cell(cell(swapped), 4)


@pytest.mark.filterwarnings("ignore:The hashes produced for directed graphs")
def test_canonical_forms_equal_iff_pruned_graphs_isomorphic_over_all_nb201_cells():
    # 8,765 networks among the 15,625 encodings. NAS-Bench-201 reports 6,466 "unique" cells:
    # its string hash also treats skip_connect as the identity, merging a node with the one
    # it copies (e.g. 1<-0 skip, 3<-1 conv is node 3 = conv(input) = 3<-0 conv), which graph
    # isomorphism of the cell does not do.
    assert check_classes(ALL_NB201, 4) == 8765


@pytest.mark.filterwarnings("ignore:The hashes produced for directed graphs")
@pytest.mark.parametrize("nodes", [5, 6])
def test_canonical_forms_equal_iff_isomorphic_on_random_larger_cells(nodes):
    rng = np.random.default_rng(nodes)
    ops = (NONE, SKIP, CONV)
    edges = cell_edges(nodes)
    cells: list[tuple[str, ...]] = []
    for _ in range(300):
        base = tuple(ops[i] for i in rng.choice(len(ops), size=len(edges), p=[0.5, 0.2, 0.3]))
        cells.append(base)
        pruned = pruned_graph(base, nodes)
        for _ in range(3):  # random relabellings of the pruned cell that stay lower -> higher
            middle = rng.permutation(np.arange(1, nodes - 1)).tolist()
            new = {0: 0, nodes - 1: nodes - 1, **dict(zip(range(1, nodes - 1), middle,
                                                               strict=True))}
            if all(new[i] < new[j] for i, j in pruned.edges):
                moved = {(new[j], new[i]): op for i, j, op in pruned.edges(data="op")}
                cells.append(tuple(moved.get(edge, NONE) for edge in edges))
    assert check_classes(cells, nodes) < len(set(cells))  # some classes really merged


def test_canonical_cell_is_idempotent_and_cell_graph_prunes_like_networkx():
    for ops in ALL_NB201[::7]:
        once = canonical_cell(cell(ops), 4)
        assert canonical_cell(once, 4) == once
        graph = cell_graph(cell(ops), 4, pruned=True)
        expected = pruned_graph(ops, 4)
        assert sorted(graph.edges(data="op")) == sorted(expected.edges(data="op"))
        assert sorted(graph.nodes) == [0, 1, 2, 3]


def test_cell_graph_has_the_non_none_edges_with_their_op():
    graph = cell_graph(cell((CONV, NONE, SKIP, NONE, NONE, NONE)), 4)
    assert isinstance(graph, nx.DiGraph) and sorted(graph.nodes) == [0, 1, 2, 3]
    assert sorted(graph.edges(data="op")) == [(0, 1, CONV), (1, 2, SKIP)]
    assert list(cell_graph(cell((CONV, NONE, SKIP, NONE, NONE, NONE)), 4, pruned=True).edges) \
        == []
    with pytest.raises(SpaceError, match="no edge"):
        cell_graph({"family": "mlp"}, 4)


def test_other_families_pass_through_and_bad_cells_are_refused():
    mlp = {"family": "mlp", "mlp.depth": 2}
    assert canonical_cell(mlp, 4) == mlp
    with pytest.raises(SpaceError, match=r"lacks edges cell.edge_3_2"):
        canonical_cell({k: v for k, v in cell((CONV,) * 6).items() if k != "cell.edge_3_2"}, 4)
    with pytest.raises(SpaceError, match=r"cell.edge_4_0.*is `nodes` right"):
        canonical_cell({**cell((CONV,) * 6), "cell.edge_4_0": CONV}, 4)
    with pytest.raises(SpaceError, match="operation names"):
        canonical_cell(cell((CONV, 3, CONV, CONV, CONV, CONV)), 4)
    with pytest.raises(SpaceError, match=f"at most {MAX_CANONICAL_NODES} nodes"):
        canonical_cell(cell((CONV,) * 21, nodes=7), 7)
    other = {f"net.edge_{j}_{i}": CONV for j, i in NB201_EDGES}
    assert canonical_cell(other, 4, family="net") == other
    assert canonical_cell(cell((CONV,) + (NONE,) * 5), 4) == cell((NONE,) * 6)


def test_two_and_six_node_cells():
    assert canonical_cell(cell((CONV,), nodes=2), 2) == cell((CONV,), nodes=2)
    assert canonical_cell(cell((NONE,), nodes=2), 2) == cell((NONE,), nodes=2)
    # a chain input -> a -> b -> output through any two of the four middle nodes (a < b)
    chains = [tuple(CONV if e in {(a, 0), (b, a), (5, b)} else NONE for e in cell_edges(6))
              for a, b in itertools.combinations(range(1, 5), 2)]
    assert len({ops_of(canonical_cell(cell(c, 6), 6), 6) for c in chains}) == 1
    star = [tuple(CONV if e in {(m, 0), (5, m)} else NONE for e in cell_edges(6))
            for m in range(1, 5)]  # one middle node used, the others absent
    assert len({ops_of(canonical_cell(cell(c, 6), 6), 6) for c in star}) == 1


def test_cell_canonicalizer_is_a_comparable_picklable_value():
    fn = CellCanonicalizer(4)
    assert fn == CellCanonicalizer(4) != CellCanonicalizer(5)
    assert pickle.loads(pickle.dumps(fn)) == fn
    values = cell((CONV, NONE, NONE, NONE, NONE, NONE))
    assert fn(values) == canonical_cell(values, 4)
    assert fn.describe() == {"canonical": "cell", "nodes": 4, "family": "cell"}
    with pytest.raises(SpaceError, match="at most"):
        CellCanonicalizer(9)
