from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.searchspace.space import SearchSpace, When


def small_space() -> SearchSpace:
    return SearchSpace(
        {"family": Choice(("mlp", "cnn")), "cnn.kernel": Choice((3, 5)),
         "depth": IntRange(1, 3), "w.0": Choice((8, 16)), "w.1": Choice((8, 16)),
         "w.2": Choice((8, 16)), "act": Choice(("relu", "gelu"))},
        {"cnn.kernel": (When("family", ("cnn",)),), "w.1": (When("depth", (2, 3)),),
         "w.2": (When("depth", (3,)),)},
    )


SPACES = {
    "small": small_space,
    "assembled": lambda: assemble_space(["mlp", "cnn"], {}, {}),
    "per_layer": lambda: assemble_space(["mlp"], {"lr": 0.01},
                                        {"mlp": {"per_layer_width": True}}),
}


@pytest.mark.parametrize("make", SPACES.values(), ids=SPACES.keys())
@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_sample_mutate_crossover_stay_in_space(make, seed):
    space = make()
    rng = np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    assert space.validate(a) == a
    m = space.mutate(a, rng)
    assert space.validate(m) == m and m != a
    c = space.crossover(a, b, rng)
    assert space.validate(c) == c
    assert all(c[k] in (a.get(k), b.get(k)) for k in c if k in a or k in b)


@pytest.mark.parametrize("make", SPACES.values(), ids=SPACES.keys())
@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_encode_decode_round_trip(make, seed):
    space = make()
    arch = space.sample(np.random.default_rng(seed))
    vector = space.encode(arch)
    assert vector.shape == (len(space),)
    assert np.isnan(vector).sum() == len(space) - len(arch)
    back = space.decode(vector)
    for key in arch:
        if isinstance(arch[key], float):
            assert back[key] == pytest.approx(arch[key], rel=1e-9)
        else:
            assert back[key] == arch[key]
    assert space.decode(np.random.default_rng(seed).random(len(space))) is not None


def test_size_is_exact_and_enumerate_matches():
    space = small_space()
    archs = list(space.enumerate())
    # mlp: depth 1/2/3 -> 2 + 4 + 8 widths, x2 act = 28; cnn doubles with 2 kernels = 56
    assert space.size == 84 == len(archs) == len(set(archs))
    assert all(space.validate(a) == a for a in archs)


def test_size_of_continuous_space_is_none_and_enumerate_refuses():
    space = SearchSpace({"lr": FloatRange(1e-4, 1e-1, log=True), "d": IntRange(1, 3)})
    assert space.size is None
    with pytest.raises(SpaceError, match="continuous"):
        list(space.enumerate())


def test_sampling_is_seeded():
    space = assemble_space(["mlp", "cnn"], {}, {})
    one = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    two = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert one == two


def test_validate_messages():
    space = small_space()
    good = {"family": "mlp", "depth": 1, "w.0": 8, "act": "relu"}
    assert space.validate(good) == Architecture(good)
    with pytest.raises(SpaceError, match=r"'actt' is not in the search space.*Did you mean 'act'"):
        space.validate({**good, "actt": "relu"})
    with pytest.raises(SpaceError, match=r"'w.0' is missing"):
        space.validate({k: v for k, v in good.items() if k != "w.0"})
    with pytest.raises(SpaceError, match=r"'w.1'.*does not apply.*depth=1"):
        space.validate({**good, "w.1": 8})
    with pytest.raises(SpaceError, match=r"'cnn.kernel'.*family is one of \['cnn'\]"):
        space.validate({**good, "family": "cnn"})
    with pytest.raises(SpaceError, match=r"'depth' has value 7.*1 to 3"):
        space.validate({**good, "depth": 7})


def test_conditions_are_checked_at_construction():
    with pytest.raises(SpaceError, match="cycle"):
        SearchSpace({"a": Choice((1, 2)), "b": Choice((1, 2))},
                    {"a": (When("b", (1,)),), "b": (When("a", (1,)),)})
    with pytest.raises(SpaceError, match="not in the space"):
        SearchSpace({"a": Choice((1, 2))}, {"a": (When("zz", (1,)),)})
    with pytest.raises(SpaceError, match="not one of its choices"):
        SearchSpace({"a": Choice((1, 2)), "b": Choice((1,))}, {"b": (When("a", (3,)),)})


def test_arch_id_is_canonical():
    a = Architecture({"b": 1, "a": "x", "lr": 0.001})
    b = Architecture({"lr": 0.001, "a": "x", "b": 1})
    assert a == b and a.arch_id == b.arch_id and hash(a) == hash(b)
    assert Architecture({"b": 1}).arch_id != Architecture({"b": 1.0}).arch_id
    assert Architecture({"b": True}).arch_id != Architecture({"b": 1}).arch_id
    assert Architecture.from_json(a.json) == a
    assert a.json == '{"a":"x","b":1,"lr":0.001}'
    with pytest.raises(SpaceError, match="finite"):
        Architecture({"x": float("nan")})
    with pytest.raises(TypeError):
        a.mapping["a"] = "y"  # type: ignore[index]


def test_arch_id_is_stable_in_a_fresh_process():
    space = assemble_space(["mlp", "cnn"], {}, {})
    archs = [space.sample(np.random.default_rng(s)) for s in range(5)]
    code = (
        "import json, sys\n"
        "from nasforge.searchspace.architecture import Architecture\n"
        "print(json.dumps([Architecture.from_json(t).arch_id for t in json.load(sys.stdin)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps([a.json for a in archs]),
                         capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert json.loads(out.stdout) == [a.arch_id for a in archs]
    # a fixed value pins the hash itself: printf %s '{"family":"mlp","mlp.depth":2}' | sha256sum
    assert Architecture({"family": "mlp", "mlp.depth": 2}).arch_id == "5061a58a72b8b91a"


def test_nb201_cell_string_follows_the_benchmark_edge_order():
    from nasforge.searchspace.cells import EDGE_PARAMS, nb201_space, nb201_string

    ops = ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "none",
           "avg_pool_3x3"]  # edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    arch = nb201_space().validate({"family": "cell", **dict(zip(EDGE_PARAMS, ops, strict=True))})
    assert nb201_string(arch) == ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
                                  "|skip_connect~0|none~1|avg_pool_3x3~2|")
    assert nb201_space().size == 5**6


# ---------------------------------------------------------------------- canonicalised spaces
CELL_OPS = ("none", "skip_connect", "nor_conv_3x3")


def cell_space(canonicalize=None) -> SearchSpace:
    """A 4-node cell over 3 operations: 729 encodings, 261 distinct networks."""
    from nasforge.searchspace.cells import EDGE_PARAMS, canonical_cell

    fn = canonicalize or (lambda v: canonical_cell(v, 4))
    return SearchSpace({name: Choice(CELL_OPS) for name in EDGE_PARAMS}, canonicalize=fn)


def is_canonical(arch: Architecture) -> bool:
    from nasforge.searchspace.cells import canonical_cell

    return isinstance(arch, Architecture) and Architecture(canonical_cell(arch, 4)) == arch


def raw_cells() -> list[Architecture]:
    return list(SearchSpace(cell_space().params).enumerate())


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_canonical_space_hands_out_canonical_architectures(seed):
    space, rng = cell_space(), np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    m = space.mutate(a, rng)
    c = space.crossover(a, b, rng)
    d = space.decode(rng.random(len(space)))
    assert all(is_canonical(x) for x in (a, b, m, c, d))
    assert m != a
    assert all(space.validate(x) is x for x in (a, m, c, d))
    assert space.decode(space.encode(a)) == a


def test_mutate_leaves_every_canonical_cell_even_the_empty_one():
    space, rng = cell_space(), np.random.default_rng(0)
    empty = space.validate({name: "none" for name in space.params})
    assert all(space.mutate(empty, rng) != empty for _ in range(300))
    for arch in space.enumerate():
        assert all(space.mutate(arch, rng, n=n) != arch for n in (1, 2))
    raw = Architecture({**empty, "cell.edge_1_0": "nor_conv_3x3"})  # a dead edge: not canonical
    assert space.mutate(raw, rng) != empty and is_canonical(space.mutate(raw, rng))


def test_mutate_gives_up_after_bounded_tries_when_nothing_else_exists():
    calls = []

    def collapse(values):
        calls.append(1)
        return {k: "none" for k in values}  # every assignment is the same network

    space = cell_space(collapse)
    arch = space.sample(np.random.default_rng(0))
    calls.clear()
    assert space.mutate(arch, np.random.default_rng(1)) == arch == space.validate(arch)
    assert 0 < len(calls) <= 30  # MUTATE_TRIES repairs (+ one validate), not an endless loop
    assert space.size == 1


def test_validate_accepts_and_canonicalises_valid_non_canonical_values():
    space = cell_space()
    raw = {"cell.edge_1_0": "nor_conv_3x3", "cell.edge_2_0": "none", "cell.edge_2_1": "none",
           "cell.edge_3_0": "skip_connect", "cell.edge_3_1": "none", "cell.edge_3_2": "none"}
    arch = space.validate(raw)
    assert arch == Architecture({**raw, "cell.edge_1_0": "none"})  # 1<-0 leads nowhere
    assert space.validate(arch) is arch and space.validate(Architecture(raw)) == arch
    with pytest.raises(SpaceError, match="not one of its choices"):
        space.validate({**raw, "cell.edge_3_2": "max_pool_3x3"})
    with pytest.raises(SpaceError, match="'cell.edge_3_2' is missing"):
        space.validate({k: v for k, v in raw.items() if k != "cell.edge_3_2"})


def test_enumerate_yields_each_canonical_architecture_once_and_size_counts_them():
    from nasforge.searchspace.cells import canonical_cell

    space = cell_space()
    archs = list(space.enumerate())
    expected = {Architecture(canonical_cell(a, 4)) for a in raw_cells()}
    assert len(archs) == len(set(archs)) == len(expected) == 261 == space.size
    assert set(archs) == expected and all(is_canonical(a) for a in archs)
    assert space.raw_size == 729 == len(raw_cells())
    assert space.size == 261  # cached, still exact


def test_size_of_large_or_continuous_canonical_spaces_is_none():
    from nasforge.searchspace.cells import CellCanonicalizer, cell_edges, edge_param
    from nasforge.searchspace.space import COUNT_LIMIT

    big = SearchSpace({edge_param(j, i): Choice(("none", "a", "b", "c", "d"))
                       for j, i in cell_edges(5)}, canonicalize=CellCanonicalizer(5))
    assert big.raw_size == 5**10 > COUNT_LIMIT and big.size is None
    mixed = SearchSpace({**cell_space().params, "lr": FloatRange(1e-3, 1e-1)},
                        canonicalize=cell_space().canonicalize)
    assert mixed.raw_size is None and mixed.size is None
    assert is_canonical(Architecture({k: v for k, v in mixed.sample(np.random.default_rng(0))
                                      .items() if k != "lr"}))


def test_deduplicated_random_search_exhausts_the_distinct_cells():
    from nasforge.strategies import Deduplicated, RandomSearch

    space = cell_space()
    strategy = Deduplicated(RandomSearch(space, seed=0))
    proposed: list[Architecture] = []
    while batch := strategy.ask(64):
        proposed += batch
    assert len(proposed) == len(set(proposed)) == space.size == 261
    assert set(proposed) == set(space.enumerate())
    assert strategy.ask(3) == []


def test_bayesian_stops_when_every_distinct_cell_is_proposed():
    pytest.importorskip("optuna")
    from nasforge.objectives import parse_objectives
    from nasforge.searchspace.cells import EDGE_PARAMS, CellCanonicalizer
    from nasforge.strategies import make_strategy

    space = SearchSpace({name: Choice(("none", "nor_conv_3x3")) for name in EDGE_PARAMS},
                        canonicalize=CellCanonicalizer(4))
    strategy = make_strategy("tpe", space, parse_objectives(["accuracy:max"]), seed=0)
    proposed = [a for _ in range(10) for a in strategy.ask(4)]
    assert all(is_canonical(a) for a in proposed) and len(set(proposed)) == len(proposed)
    assert len(proposed) == space.size == 14
    assert strategy.inner.ask(1) == []  # the exact size tells it the space is exhausted


def test_canonical_spaces_compare_describe_and_check_their_function():
    from nasforge.searchspace.cells import EDGE_PARAMS, CellCanonicalizer, nb201_space

    params = {name: Choice(CELL_OPS) for name in EDGE_PARAMS}
    one = SearchSpace(params, canonicalize=CellCanonicalizer(4))
    assert one == SearchSpace(params, canonicalize=CellCanonicalizer(4))
    assert one != SearchSpace(params) and nb201_space() == nb201_space()
    assert nb201_space().canonicalize is None and nb201_space().size == 5**6
    assert one.describe()["@canonicalize"] == {"canonical": "cell", "nodes": 4, "family": "cell"}
    assert "@canonicalize" not in SearchSpace(params).describe()
    assert "cell_space" in cell_space().describe()["@canonicalize"]["function"]
    with pytest.raises(SpaceError, match="not callable"):
        SearchSpace(params, canonicalize="yes")  # type: ignore[arg-type]
    broken = SearchSpace(params, canonicalize=lambda v: {**v, "cell.edge_1_0": "max_pool"})
    with pytest.raises(SpaceError, match="canonicalize function.*outside the space"):
        broken.sample(np.random.default_rng(0))


def test_a_multi_family_space_canonicalises_only_its_cells():
    from nasforge.searchspace.cells import EDGE_PARAMS, CellCanonicalizer

    space = SearchSpace({"family": Choice(("mlp", "cell")), "mlp.depth": IntRange(1, 3),
                         **{name: Choice(CELL_OPS) for name in EDGE_PARAMS}},
                        {"mlp.depth": (When("family", ("mlp",)),),
                         **{name: (When("family", ("cell",)),) for name in EDGE_PARAMS}},
                        canonicalize=CellCanonicalizer(4))
    assert space.size == 3 + 261 and space.raw_size == 3 + 729
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(100)]
    assert {a["family"] for a in archs} == {"mlp", "cell"}
    assert all(is_canonical(Architecture({k: v for k, v in a.items() if k != "family"}))
               for a in archs if a["family"] == "cell")


def test_sample_distinct_draws_different_architectures_or_says_the_space_is_too_small():
    space = SearchSpace({"a": Choice((1, 2, 3)), "b": Choice(("x", "y"))})
    drawn = space.sample_distinct(6, np.random.default_rng(0))
    assert len({arch.arch_id for arch in drawn}) == 6
    assert drawn == space.sample_distinct(6, np.random.default_rng(0))
    with pytest.raises(SpaceError, match="Cannot draw 7 different architectures"):
        space.sample_distinct(7, np.random.default_rng(0))
