"""Successive halving (ASHA): the promotion rule on scripted histories, multi-objective
promotion, pending trials, resume, and a run through the search loop."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import pytest

from nasforge.config import from_dict
from nasforge.errors import ConfigError
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, EvalResult, TrialRecord, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.searchspace.space import SearchSpace
from nasforge.store import open_store
from nasforge.strategies import make_strategy
from nasforge.strategies.halving import (
    SuccessiveHalving,
    base_id,
    rung_values,
    rungs_of,
)

ACC = parse_objectives(["accuracy:max"])
ACC_PARAMS = parse_objectives(["accuracy:max", "params:min"])
RUNGS = (1, 3, 9, 27)


def space() -> SearchSpace:
    return SearchSpace({"a": IntRange(0, 999), "epochs": Choice((27, 1, 9, 3))})


def arch(a: int, epochs: int = 1) -> Architecture:
    return Architecture({"a": a, "epochs": epochs})


def curve(quality: float, epochs: int) -> tuple[CurvePoint, ...]:
    """Validation accuracy rising towards `quality`; rank-preserving across epochs."""
    return tuple(CurvePoint(e, {"val_accuracy": quality * (1 - math.exp(-e / 4)),
                                "val_loss": 1 - quality * (1 - math.exp(-e / 4))})
                 for e in range(1, epochs + 1))


def done(number: int, candidate: Architecture, quality: float,
         state: TrialState = TrialState.COMPLETE, **metrics: float) -> TrialRecord:
    points = curve(quality, int(candidate["epochs"]))
    return TrialRecord("s", number, candidate, state,
                       {"accuracy": points[-1].metrics["val_accuracy"], **metrics}, points)


def failed(number: int, candidate: Architecture) -> TrialRecord:
    return TrialRecord("s", number, candidate, TrialState.FAILED, error="boom")


def running(number: int, candidate: Architecture) -> TrialRecord:
    return TrialRecord("s", number, candidate, TrialState.RUNNING)


class ScriptedInner:
    """Proposes a, a+1, ... at rung 0; remembers what it is told."""

    def __init__(self, start: int = 500) -> None:
        self.next = start
        self.told: list[TrialRecord] = []

    def ask(self, n: int) -> list[Architecture]:
        out = [arch(self.next + i) for i in range(n)]
        self.next += n
        return out

    def tell(self, records: Sequence[TrialRecord]) -> None:
        self.told.extend(records)


def halving(history: Sequence[TrialRecord], eta: int = 3, objectives=ACC) -> SuccessiveHalving:
    strategy = SuccessiveHalving(ScriptedInner(), space(), objectives, eta=eta)
    strategy.tell(history)
    return strategy


def rung0(qualities: Sequence[float]) -> list[TrialRecord]:
    """Candidates a = 0, 1, ... finished at rung 0 with these qualities."""
    return [done(i, arch(i), q) for i, q in enumerate(qualities)]


# ---------------------------------------------------------------------- rungs and options
def test_rungs_come_from_the_epochs_choice_sorted():
    assert rungs_of(space()) == RUNGS


@pytest.mark.parametrize("epochs", [None, Choice((10,)), IntRange(1, 27), Choice((1.5, 3.0)),
                                    Choice(("1", "3")), FloatRange(1.0, 9.0)])
def test_a_space_without_rungs_is_refused_with_the_fix(epochs):
    params = {"a": IntRange(0, 9), **({"epochs": epochs} if epochs is not None else {})}
    with pytest.raises(ConfigError, match=r"epochs = \[1, 3, 9, 27\]"):
        make_strategy("halving", SearchSpace(params), ACC, 0)


@pytest.mark.parametrize("options, match", [
    ({"eta": 1}, "eta"), ({"eta": True}, "eta"), ({"eta": 2.5}, "eta"),
    ({"inner": "nope"}, "inner = 'nope'"), ({"inner": "halving"}, "inner = 'halving'"),
    ({"inner_options": [1]}, "inner_options"), ({"inner_options": {"bogus": 1}}, "inner"),
    ({"bogus": 1}, "bogus"),
])
def test_options_are_validated(options, match):
    with pytest.raises(ConfigError, match=match):
        make_strategy("halving", space(), ACC, 0, options)


# ---------------------------------------------------------------------- the promotion rule
def test_eta_3_promotes_the_top_third_best_first_then_asks_the_inner_strategy():
    history = rung0([0.5, 0.9, 0.1, 0.7, 0.3, 0.8])  # top floor(6/3) = 2: a=1, a=5
    assert halving(history).ask(3) == [arch(1, 3), arch(5, 3), arch(500)]


def test_eta_2_promotes_the_top_half():
    history = rung0([0.5, 0.9, 0.1, 0.7, 0.3, 0.8])  # top 3: a=1, a=5, a=3
    assert halving(history, eta=2).ask(4) == [arch(1, 3), arch(5, 3), arch(3, 3), arch(500)]


def test_the_quota_grows_asynchronously_with_the_finished_count():
    assert halving(rung0([0.5, 0.9])).ask(1) == [arch(500)]  # floor(2/3) = 0
    assert halving(rung0([0.5, 0.9, 0.1])).ask(2) == [arch(1, 3), arch(500)]
    # a new best arriving later is promoted too, and the old top stays promoted
    history = [*rung0([0.5, 0.9, 0.1]), done(3, arch(1, 3), 0.9),
               *[done(4 + i, arch(10 + i), q) for i, q in enumerate([0.2, 0.95, 0.3])]]
    assert halving(history).ask(2) == [arch(11, 3), arch(500)]  # top 2 of 6: a=11, a=1


def test_the_highest_rung_promotes_first_and_only_the_top_rung_stops():
    qualities = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    history = rung0(qualities)  # top 3: a=8, 7, 6
    history += [done(9 + i, arch(a, 3), qualities[a]) for i, a in enumerate((8, 7, 6))]
    history += [done(12, arch(8, 9), 0.9), done(13, arch(7, 9), 0.8), done(14, arch(6, 9), 0.7)]
    history += [done(15, arch(8, 27), 0.9)]  # a=8 reached the top rung: it stops there
    # 9 -> 27 epochs: the top 1 of 3 (a=8) is taken; 3 -> 9: likewise; 1 -> 3: the top 3 of
    # 9 are all promoted already: the inner strategy proposes
    assert halving(history).ask(2) == [arch(500), arch(501)]
    history[-1] = running(15, arch(8, 27))  # pending counts as promoted as well
    assert halving(history).ask(1) == [arch(500)]
    assert halving(history[:-1]).ask(2) == [arch(8, 27), arch(500)]


def test_failed_trials_count_at_their_rung_but_are_never_promoted():
    history = [failed(0, arch(0)), failed(1, arch(1)), done(2, arch(2), 0.1)]
    assert halving(history).ask(1) == [arch(2, 3)]  # top 1 of 3: the only one with a value
    history = [failed(0, arch(0)), failed(1, arch(1)), failed(2, arch(2))]
    assert halving(history).ask(1) == [arch(500)]
    # four failures out of six: the top 2 are the two that finished
    history = [failed(i, arch(i)) for i in range(4)] + [done(4, arch(4), 0.2),
                                                        done(5, arch(5), 0.1)]
    assert halving(history).ask(3) == [arch(4, 3), arch(5, 3), arch(500)]


def test_a_pruned_trial_that_stopped_before_its_rung_is_not_promoted():
    early = TrialRecord("s", 0, arch(0), TrialState.PRUNED, {"accuracy": 0.99, "epochs": 0})
    history = [early, done(1, arch(1), 0.2), done(2, arch(2), 0.1)]
    assert halving(history).ask(1) == [arch(1, 3)]


def test_several_objectives_promote_by_front_then_crowding():
    points = {0: (0.90, 100), 1: (0.80, 50), 2: (0.70, 10),  # the front
              3: (0.85, 120), 4: (0.60, 60), 5: (0.50, 200)}  # dominated (3 by 0)
    history = [done(a, arch(a), acc, params=params) for a, (acc, params) in points.items()]
    # eta = 2: top 3 = the whole front, boundary points (infinite crowding) first
    assert halving(history, eta=2, objectives=ACC_PARAMS).ask(3) == [
        arch(0, 3), arch(2, 3), arch(1, 3)]
    # eta = 3: the two boundary points; a=3 (second best accuracy) is dominated: never
    assert halving(history, eta=3, objectives=ACC_PARAMS).ask(3) == [
        arch(0, 3), arch(2, 3), arch(500)]
    # by accuracy alone it would be promoted second
    assert halving(history, eta=3).ask(2) == [arch(0, 3), arch(3, 3)]


def test_the_signal_is_read_at_the_rung_from_the_curve_else_the_metrics():
    objectives = parse_objectives(["accuracy:max", "loss:min", "params:min"])
    points = curve(0.8, 9)
    record = TrialRecord("s", 0, arch(0, 9), TrialState.COMPLETE,
                         {"accuracy": -1.0, "loss": -1.0, "params": 7.0}, points)
    assert rung_values(record, objectives) == (
        points[8].metrics["val_accuracy"], -points[8].metrics["val_loss"], -7.0)
    bare = TrialRecord("s", 0, arch(0, 9), TrialState.COMPLETE, {"accuracy": 0.5, "loss": 0.2})
    assert rung_values(bare, objectives)[:2] == (0.5, -0.2)
    assert math.isnan(rung_values(bare, objectives)[2])  # params missing
    assert all(math.isnan(v) for v in rung_values(failed(0, arch(0)), objectives))
    pruned = TrialRecord("s", 0, arch(0, 9), TrialState.PRUNED, {"accuracy": 0.5, "params": 1},
                         points[:4])
    assert math.isnan(rung_values(pruned, objectives)[0])  # stopped at epoch 4 of 9
    assert rung_values(pruned, objectives)[2] == -1.0  # cost metrics do not need the rung


# ---------------------------------------------------------------------- pending, resume
def test_no_double_promotion_with_pending_trials():
    history = rung0([0.5, 0.9, 0.1, 0.7, 0.3, 0.8])
    strategy = halving(history)
    assert strategy.ask(1) == [arch(1, 3)]
    assert strategy.ask(1) == [arch(5, 3)]  # asked, not told: still not proposed twice
    assert strategy.ask(1) == [arch(500)]
    strategy.tell([running(6, arch(1, 3)), running(7, arch(5, 3))])
    rebuilt = halving([*history, running(6, arch(1, 3)), running(7, arch(5, 3))])
    assert rebuilt.ask(1) == [arch(500)]  # pending trials count as promoted


def test_tell_is_idempotent_and_only_rung_zero_reaches_the_inner_strategy():
    history = [*rung0([0.5, 0.9, 0.1]), running(3, arch(1, 3)), done(3, arch(1, 3), 0.9)]
    strategy = halving(history)
    strategy.tell(history)
    strategy.tell([running(3, arch(1, 3))])  # a stale pending record changes nothing
    assert [r.number for r in strategy.inner.told] == [0, 1, 2]
    assert strategy.trials_per_rung() == {1: 3, 3: 1, 9: 0, 27: 0}
    assert strategy.ask(1) == halving(history).ask(1)


def evaluate(candidate: Architecture) -> EvalResult:
    """Synthetic: quality from a hash of the base, every 9th base fails."""
    digest = hashlib.sha256(base_id(candidate).encode()).digest()
    quality = int.from_bytes(digest[:8], "big") / 2**64
    if digest[8] % 9 == 0:
        return EvalResult.failed("synthetic failure")
    points = curve(quality, int(candidate["epochs"]))
    return EvalResult(TrialState.COMPLETE, {"accuracy": points[-1].metrics["val_accuracy"],
                                            "params": float(candidate.get("a", 1))}, points)


def drive(strategy, start: int, trials: int, batch: int = 1) -> list[TrialRecord]:
    """The search loop in miniature: ask, tell pending, evaluate, tell finished."""
    out: list[TrialRecord] = []
    number = start
    while len(out) < trials:
        pending = [running(number + i, a) for i, a in enumerate(strategy.ask(batch))]
        if not pending:
            break
        strategy.tell(pending)
        number += len(pending)
        for record in pending:
            result = evaluate(record.arch)
            finished = TrialRecord("s", record.number, record.arch, result.state,
                                   result.metrics, result.curve, result.error)
            strategy.tell([finished])
            out.append(finished)
    return out


@pytest.mark.parametrize("objectives", [ACC, ACC_PARAMS], ids=["single", "multi"])
@pytest.mark.parametrize("inner", ["random", "evolution"])
def test_a_rebuilt_strategy_continues_exactly(objectives, inner):
    options = {"inner": inner}
    first = make_strategy("halving", space(), objectives, 5, options)
    history = drive(first, 0, 40, batch=3)
    reference = drive(first, len(history), 40, batch=3)
    rebuilt = make_strategy("halving", space(), objectives, 5, options)
    rebuilt.tell(history)  # a replay holds only final states
    assert drive(rebuilt, len(history), 40, batch=3) == reference
    assert {r.arch["epochs"] for r in history + reference} >= {1, 3, 9}


def test_candidates_are_valid_and_new_on_a_conditional_space():
    mixed = assemble_space(["mlp", "cnn"], {"epochs": [1, 3, 9, 27]},
                           {"cnn": {"stages": {"low": 1, "high": 2}}})
    for inner in ("random", "evolution"):
        strategy = make_strategy("halving", mixed, ACC_PARAMS, 1, {"inner": inner, "eta": 2})
        records = drive(strategy, 0, 120, batch=4)
        assert all(mixed.validate(r.arch) == r.arch for r in records)
        assert len({r.arch_id for r in records}) == len(records)
        assert {r.arch["epochs"] for r in records} == {1, 3, 9, 27}


# ---------------------------------------------------------------------- the search loop
RAW = {
    "search": {"name": "asha", "budget": 120, "objectives": ["accuracy:max"],
               "strategy": "halving", "strategy_options": {"eta": 3}},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "epochs": [1, 3, 9, 27], "activation": ["relu", "gelu"],
              "norm": ["none"], "lr": {"low": 1e-4, "high": 1e-1, "log": True},
              "mlp": {"depth": {"low": 1, "high": 3}, "width": [8, 16, 32, 64]}},
}


class CurveEvaluator:
    """Quality from a hash of the candidate (epochs aside), learning curves towards it."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return [evaluate(a) for a in archs]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_a_search_most_of_the_budget_goes_to_low_rungs_and_the_best_reaches_the_top(seed):
    config = from_dict({**RAW, "search": {**RAW["search"], "seed": seed}})
    store = open_store("sqlite://")
    Search(config, store, CurveEvaluator()).run()
    trials = store.trials("asha")
    assert len(trials) == 120
    per_rung = {r: sum(t.arch["epochs"] == r for t in trials) for r in RUNGS}
    assert per_rung[1] > per_rung[3] > per_rung[9] > per_rung[27] >= 1
    assert per_rung[1] > 120 / 2
    epoch_budget = {r: r * n for r, n in per_rung.items()}
    assert sum(epoch_budget.values()) < 27 * 120 / 4  # a fraction of training all fully
    # the best candidate is promoted at every rung as soon as its rung's quota allows
    first = [t for t in trials if t.arch["epochs"] == 1 and t.state is TrialState.COMPLETE]
    best = max(first, key=lambda t: t.metrics["accuracy"])
    assert best.arch.replace(epochs=27) in {t.arch for t in trials}
    store.close()


def test_a_small_space_is_exhausted_cleanly():
    tiny = SearchSpace({"a": IntRange(0, 5), "epochs": Choice((1, 3))})
    strategy = make_strategy("halving", tiny, ACC, 0, {"eta": 2})
    records = drive(strategy, 0, 100)
    assert len({r.arch_id for r in records}) == len(records) <= 12
    assert sum(r.arch["epochs"] == 1 for r in records) == 6
    assert strategy.ask(2) == []
