"""The proxy pre-filter wrapper through the real search loop (in-memory store), with the
contract suite's synthetic evaluator and a synthetic scorer (a fixed function of the
architecture, so no torch): trains exactly the best of each pool, never proposes a
candidate twice, keeps every pool, resumes as an uninterrupted run, works around every
strategy and with two objectives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from test_strategy_contract import (
    OBJECTIVES,
    REFUSES,
    SPACES,
    SyntheticEvaluator,
    _config,
    _unit,
)

from nasforge.errors import ConfigError
from nasforge.frozen import freeze
from nasforge.objectives import parse_objectives
from nasforge.prefilter_pools import PoolArchive
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.strategies import STRATEGIES, make_strategy
from nasforge.strategies.prefilter import Pool, PrefilterOptions, rank_best

POOL = 4
PROXIES = ("synflow", "naswot")


def fake_scorer(archs: Sequence[Architecture]) -> list[Mapping[str, float]]:
    return [{p: _unit(a, p) for p in PROXIES} for a in archs]


def _run(strategy: str, objectives, budget: int, *, seed: int = 0, store=None,
         proxy: object = "synflow", space: str = "mixed", options: Mapping | None = None):
    config = _config(SPACES[space](), strategy, objectives, budget, seed)
    config = type(config)(**{**{f: getattr(config, f) for f in config.__slots__},
                             "strategy_options": freeze({**(options or {}), "prefilter": {
                                 "proxy": proxy, "pool": POOL}})})
    store = store or open_store("sqlite://")
    Search(config, store, SyntheticEvaluator(), resume=True, scorer=fake_scorer).run()
    return store, store.trials("contract"), PoolArchive(store, "contract").load()


def test_trains_exactly_the_best_scored_candidate_of_each_pool() -> None:
    _, trials, pools = _run("random", OBJECTIVES["single"], 20)
    assert [t.arch_id for t in trials] == [p.winner for p in pools]
    for pool in pools:
        assert len(pool.scores) == POOL and len(pool.discarded) == POOL - 1
        best = max(pool.scores, key=lambda a: pool.scores[a]["synflow"])
        assert best == pool.winner
    members = [a for p in pools for a in p.scores]
    assert len(members) == len(set(members))  # a discarded candidate is never proposed again


def test_a_rank_ensemble_sums_the_ranks_of_each_proxy() -> None:
    scores = [{"a": 1.0, "b": 9.0}, {"a": 3.0, "b": 1.0}, {"a": 2.0, "b": 5.0}]
    # ranks a: 0, 2, 1; b: 2, 0, 1 -> sums 2, 2, 2: a tie goes to the earliest
    assert rank_best(scores, ["a", "b"]) == 0
    assert rank_best(scores, ["a"]) == 1
    assert rank_best([{"a": float("nan")}, {"a": -5.0}], ["a"]) == 1  # NaN ranks last
    assert rank_best([{}, {"a": 0.0}], ["a"]) == 1  # an unscored (invalid) candidate too
    _, trials, pools = _run("random", OBJECTIVES["single"], 10, proxy=list(PROXIES))
    for pool in pools:
        ids = list(pool.scores)
        assert ids[rank_best([pool.scores[i] for i in ids], PROXIES)] == pool.winner


@pytest.mark.parametrize("name", ["random", "evolution", "halving"])
def test_resume_proposes_what_an_uninterrupted_run_would(name: str) -> None:
    store, _, _ = _run(name, OBJECTIVES["multi"], 15)
    _, resumed, resumed_pools = _run(name, OBJECTIVES["multi"], 40, store=store)
    _, uninterrupted, pools = _run(name, OBJECTIVES["multi"], 40)
    assert [t.arch for t in resumed] == [t.arch for t in uninterrupted]
    assert resumed_pools == pools


@pytest.mark.parametrize("name", sorted(n for n in STRATEGIES.names()
                                        if n not in ("nni", "supernet", "cmaes")))
@pytest.mark.parametrize("objectives", ["single", "multi"])
def test_works_around_every_strategy_and_several_objectives(name: str, objectives: str) -> None:
    budget = 12 if name == "gp" else 30
    try:
        make_strategy(name, SPACES["mixed"](), parse_objectives(OBJECTIVES[objectives]), 0)
    except ConfigError:
        pytest.skip(f"{name} refuses this setting (it says so)")
    assert (name, "mixed") not in REFUSES
    _, trials, pools = _run(name, OBJECTIVES[objectives], budget)
    assert sum(t.state.is_finished for t in trials) == budget
    assert len({t.arch_id for t in trials}) == len(trials)
    winners = {p.winner for p in pools}
    new = [t for t in trials if name != "halving" or t.arch.get("epochs") == 1]
    assert {t.arch_id for t in new} <= winners  # every new candidate won a pool
    _, again, _ = _run(name, OBJECTIVES[objectives], budget)
    assert [t.arch for t in again] == [t.arch for t in trials]  # deterministic under the seed


def test_halving_filters_new_candidates_and_never_its_promotions() -> None:
    _, trials, pools = _run("halving", OBJECTIVES["single"], 40)
    winners = {p.winner for p in pools}
    promoted = [t for t in trials if t.arch.get("epochs") != 1]
    assert promoted and not any(t.arch_id in winners for t in promoted)


def test_bad_prefilter_options_are_config_errors() -> None:
    space, objectives = SPACES["mixed"](), parse_objectives(["accuracy:max"])
    for bad, match in [({"proxy": "synflow", "pool": 1}, "pool"),
                       ({"proxy": [], "pool": 4}, "proxy"),
                       ({"proxy": "synflow", "size": 4}, "unknown key"),
                       ("synflow", "must be a table")]:
        with pytest.raises(ConfigError, match=match):
            make_strategy("random", space, objectives, 0, {"prefilter": bad})
    with pytest.raises(ConfigError, match="own search driver"):
        make_strategy("supernet", space, objectives, 0, {"prefilter": {"proxy": "zen"}})
    strategy = make_strategy("random", space, objectives, 0, {"prefilter": {"proxy": "x"}})
    with pytest.raises(ConfigError, match="scorer"):
        strategy.ask(1)


def test_pools_round_trip_through_json_with_non_finite_scores() -> None:
    arch = Architecture({"a": 1})
    pool = Pool("w", (arch,), {arch.arch_id: {"synflow": float("-inf")}, "w": {"synflow": 2.0}})
    assert Pool.from_json(pool.to_json()) == pool
    assert PrefilterOptions.parse({"proxy": "zen"}).pool == 16
